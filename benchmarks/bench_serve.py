"""Load test of the web app: 200 prediction requests from 8 concurrent clients against
`cnnlab serve` on localhost; every answer is checked against a direct `predict_proba`.

    python benchmarks/bench_serve.py                     # trains a small digits model first (seconds)
    python benchmarks/bench_serve.py --run runs/demo --requests 200 --clients 8

Prints requests/s and p50/p95 latency; exits 1 if any answer is wrong or missing.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="Run folder to serve (default: train mnist-tiny on the digits)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--images", type=int, default=50, help="Different images to cycle through")
    args = parser.parse_args()

    from cnnlab.train import fit

    with tempfile.TemporaryDirectory(prefix="bench_serve_") as scratch:
        run = args.run or fit(data="digits", model="mnist-tiny", epochs=3, quiet=True,
                              project=scratch, name="digits").run_dir
        return bench(run, args)


def bench(run: Path, args: argparse.Namespace) -> int:
    """Serve `run` on a free localhost port and fire the requests."""
    import torch

    from cnnlab.inference import predict_proba
    from cnnlab.serve.server import running_server
    from cnnlab.serve.loadtest import digit_pngs, load_test
    from cnnlab.train import load_model

    pngs = digit_pngs(args.images)
    loaded = load_model(run)
    expected = [loaded.class_names[i] for i in predict_proba(loaded, pngs).argmax(1)]
    print(f"serving {run} ({loaded.architecture.get('name')}); {len(pngs)} different images, "
          f"{len(set(expected))} different answers; torch threads {torch.get_num_threads()}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs")
    with running_server(run) as url:
        load_test(url, pngs[:8], expected[:8], requests=16, clients=args.clients)  # warm-up
        result = load_test(url, pngs, expected, requests=args.requests, clients=args.clients)
    print(result.summary())
    for i, want, got in result.wrong[:10]:
        print(f"  request {i}: expected {want}, answered {got}")
    for i, error in result.failed[:10]:
        print(f"  request {i}: {error}")
    return 0 if result.correct == result.requests else 1


if __name__ == "__main__":
    sys.exit(main())
