"""The mutation check: run each broken version of cnnlab (catalogue.MUTANTS) against the tests
that claim to catch it, and print mutant | test | killed / survived.

    python tests/mutants/run.py                 # every mutant (what `make mutants` runs)
    python tests/mutants/run.py resume-from-scratch exif-ignored
    python tests/mutants/run.py --list

First the named tests run on the unbroken code (they must pass, or a "kill" would mean nothing);
then each mutant runs in a fresh interpreter, applied at start-up by activate/sitecustomize.py.
Exit status 0 only when the baseline passes and every mutant is killed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

from catalogue import MUTANTS, BY_NAME, Mutant  # noqa: E402


def pytest_run(tests: list[str], mutant: str | None) -> tuple[int, str]:
    """(pytest's exit code, its output) for `tests`, with `mutant` applied in every interpreter."""
    env = dict(os.environ)
    paths = [str(HERE / "activate"), str(HERE), str(REPO / "src"), str(REPO / "benchmarks")]
    env["PYTHONPATH"] = os.pathsep.join(paths + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.pop("CNNLAB_MUTANT", None)
    if mutant:
        env["CNNLAB_MUTANT"] = mutant
    # -m "": the tests named run even when marked slow; -rA: one PASSED/FAILED line per test
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "", "--no-header", "-rA", *tests]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr


def outcomes(tests: list[str], code: int, output: str) -> dict[str, str]:
    """killed / survived / error per test, from pytest's short summary lines."""
    if "StaleMutant" in output:
        return {t: "stale: update the mutant" for t in tests}
    found: dict[str, str] = {}
    for line in output.splitlines():
        word, _, rest = line.partition(" ")
        node = rest.split(" - ")[0].strip()
        if word in ("PASSED", "FAILED", "ERROR", "SKIPPED") and node in tests:
            found[node] = {"PASSED": "survived", "FAILED": "killed", "ERROR": "killed (error)",
                           "SKIPPED": "skipped"}[word]
    return {t: found.get(t, f"not run (pytest exit {code})") for t in tests}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="mutants to run (default: all)")
    ap.add_argument("--list", action="store_true", help="list the mutants and their tests")
    ap.add_argument("--no-baseline", action="store_true", help="skip the run on the unbroken code")
    ap.add_argument("-v", "--verbose", action="store_true", help="print pytest's output of survivors and errors")
    args = ap.parse_args(argv)
    unknown = [n for n in args.names if n not in BY_NAME]
    if unknown:
        print(f"unknown mutant(s) {unknown}; choose from {sorted(BY_NAME)}", file=sys.stderr)
        return 2
    chosen: list[Mutant] = [BY_NAME[n] for n in args.names] or list(MUTANTS)
    if args.list:
        for m in chosen:
            print(f"{m.name}: breaks '{m.breaks}'\n  " + "\n  ".join(m.tests))
        return 0

    if not args.no_baseline:
        tests = sorted({t for m in chosen for t in m.tests})
        t0 = time.perf_counter()
        code, out = pytest_run(tests, None)
        base = outcomes(tests, code, out)
        bad = {t: v for t, v in base.items() if v != "survived"}
        print(f"baseline: {len(tests) - len(bad)}/{len(tests)} tests pass on the unbroken code "
              f"({time.perf_counter() - t0:.0f} s)")
        if bad:
            print(out[-6000:])
            print("the tests must pass on the unbroken code before a kill means anything:", bad)
            return 1

    rows: list[tuple[str, str, str]] = []
    for m in chosen:
        t0 = time.perf_counter()
        code, out = pytest_run(list(m.tests), m.name)
        results = outcomes(list(m.tests), code, out)
        seconds = time.perf_counter() - t0
        for t, v in results.items():
            rows.append((m.name, t, v))
        if args.verbose and any(not v.startswith("killed") for v in results.values()):
            print(f"--- {m.name}\n{out[-6000:]}")
        print(f"  {m.name}: {', '.join(sorted(set(results.values())))} ({seconds:.0f} s)", file=sys.stderr)
    width = max(len("mutant"), *(len(r[0]) for r in rows))
    test_width = max(len(r[1]) for r in rows)
    print(f"{'mutant':<{width}} | {'test':<{test_width}} | result")
    print(f"{'-' * width}-+-{'-' * test_width}-+-{'-' * 9}")
    previous = None
    for name, test, v in rows:
        print(f"{name if name != previous else '':<{width}} | {test:<{test_width}} | {v}")
        previous = name
    killed_mutants = [m.name for m in chosen
                      if all(v.startswith("killed") for n, _, v in rows if n == m.name)]
    killed_rows = sum(v.startswith("killed") for _, _, v in rows)
    print(f"{len(killed_mutants)}/{len(chosen)} mutants killed by every test that claims them "
          f"({killed_rows}/{len(rows)} mutant-test pairs)")
    return 0 if len(killed_mutants) == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
