"""The reliability matrix (issue 12): faults, bad input and untrusted files, one row each.

    python benchmarks/bench_reliability.py [--rows interruptions,disk,...] [--kills 20] [--fuzz 500]
                                           [--fuzz-examples 1000]
    cnnlab bench reliability --kills 20

Prints a Markdown table (pasted into the README) and exits 1 if any case misbehaved.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the harness: benchmarks/reliability/
os.environ.setdefault("OMP_NUM_THREADS", "1")


def main(argv: list[str] | None = None) -> int:
    from reliability import format_table, run_matrix
    from reliability.matrix import ROWS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, from {', '.join(ROWS)}")
    p.add_argument("--kills", type=int, default=20, help="SIGKILL points for the interruptions row")
    p.add_argument("--fuzz", type=int, default=500, help="corrupted image files for the bad-images row")
    p.add_argument("--fuzz-examples", type=int, default=1000,
                   help="hypothesis examples per door (configs, checkpoints, ONNX sidecars)")
    args = p.parse_args(argv)
    rows = [r for r in args.rows.split(",") if r]
    start = time.perf_counter()
    results = run_matrix(rows, kills=args.kills, fuzz_cases=args.fuzz, fuzz_examples=args.fuzz_examples)
    print(f"reliability matrix, {time.strftime('%Y-%m-%d')}, {time.perf_counter() - start:.0f} s\n")
    print(format_table(results))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
