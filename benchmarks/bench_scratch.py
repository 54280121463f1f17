"""Convolution three ways: naive loops vs im2col (the NumPy engine) vs torch, CPU, float32.

    python benchmarks/bench_scratch.py

Two cases, forward and backward each:

* AlexNet conv1 (CS231n's im2col example): 2×3×227×227 input, 96 filters 11×11, stride 4.
* MNIST-sized: 64×1×28×28 input, 32 filters 3×3, padding 1.

Each time is the median of several runs (`time.perf_counter`), im2col and torch taking turns
so that load from other processes hits both alike. The naive loops take seconds
per call, so they run on a slice of the work -- a few output rows of one image, or a few
images -- and the time is scaled up by the ratio of output positions; the table says which.
Their cost is one Python iteration per output value, so the scaling is linear.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

# Benchmark the code of this checkout, not whatever copy of cnnlab is installed.
SRC = Path(__file__).resolve().parents[1] / "src"
if (SRC / "cnnlab").is_dir():
    sys.path.insert(0, str(SRC))

from cnnlab.scratch.layers import Conv2d
from cnnlab.scratch.naive import naive_conv2d, naive_conv2d_backward


@dataclass
class Case:
    name: str
    n: int
    c: int
    size: int
    k: int
    f: int
    stride: int
    padding: int
    naive_images: int        # the naive loops run on this many images …
    naive_rows: int | None   # … and, if set, only this many output rows of them


@dataclass
class Row:
    case: str
    pass_: str
    naive_ms: float
    im2col_ms: float
    torch_ms: float
    naive_scaled_from: str

    @property
    def speedup_vs_naive(self) -> float:
        return self.naive_ms / self.im2col_ms

    @property
    def slowdown_vs_torch(self) -> float:
        return self.im2col_ms / self.torch_ms


CASES = [
    Case("AlexNet conv1 2×3×227², 96×11², S4", 2, 3, 227, 96, 11, 4, 0,
         naive_images=1, naive_rows=5),
    Case("MNIST 64×1×28², 32×3², P1", 64, 1, 28, 32, 3, 1, 1, naive_images=4, naive_rows=None),
]


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``run()`` over ``repeats`` calls, after one untimed warm-up."""
    return interleaved_medians({"run": (None, run)}, repeats)["run"]


def interleaved_medians(contenders: dict[str, tuple[Callable[[], object] | None,
                                                    Callable[[], object]]],
                        repeats: int) -> dict[str, float]:
    """Median seconds of each ``run`` (``setup`` runs untimed before it), taking turns.

    Taking turns (im2col, torch, im2col, torch, …) rather than one block each keeps a burst
    of load from another process on this shared 2-core machine from landing on one side only.
    """
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for round_ in range(repeats + 1):          # round 0 is the warm-up
        for name, (setup, run) in contenders.items():
            if setup is not None:
                setup()
            t0 = time.perf_counter()
            run()
            if round_:
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def bench_case(case: Case, repeats: int, naive_repeats: int) -> list[Row]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((case.n, case.c, case.size, case.size)).astype(np.float32)
    conv = Conv2d(case.c, case.k, case.f, case.stride, case.padding, dtype=np.float32, rng=rng)
    w, b = conv.params["weight"], conv.params["bias"]
    out = conv.forward(x)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    oh = out.shape[2]

    # the naive loops on a slice of the work, then scaled by the share of output positions
    x_part = x[:case.naive_images]
    rows = case.naive_rows or oh
    if case.naive_rows is not None:
        assert case.padding == 0, "row cropping below assumes no padding"
        x_part = x_part[:, :, :(rows - 1) * case.stride + case.f]
    dout_part = dout[:case.naive_images, :, :rows]
    scale = (case.n * oh) / (case.naive_images * rows)
    what = f"{case.naive_images} of {case.n} images" + (
        f", {rows} of {oh} output rows" if case.naive_rows else "")
    naive_fwd = median_seconds(
        lambda: naive_conv2d(x_part, w, b, case.stride, case.padding), naive_repeats) * scale
    naive_bwd = median_seconds(
        lambda: naive_conv2d_backward(dout_part, x_part, w, case.stride, case.padding),
        naive_repeats) * scale

    xt = torch.from_numpy(x).requires_grad_(True)
    wt = torch.from_numpy(w.copy()).requires_grad_(True)
    bt = torch.from_numpy(b.copy()).requires_grad_(True)
    dout_t = torch.from_numpy(dout)
    graph: dict[str, torch.Tensor] = {}

    def torch_forward() -> None:
        graph["out"] = F.conv2d(xt, wt, bt, case.stride, case.padding)

    forward = interleaved_medians({"im2col": (None, lambda: conv.forward(x)),
                                   "torch": (None, torch_forward)}, repeats)
    # backward alone: each side's forward runs untimed first to fill its cache / graph
    backward = interleaved_medians(
        {"im2col": (lambda: conv.forward(x), lambda: conv.backward(dout)),
         "torch": (torch_forward,
                   lambda: torch.autograd.grad(graph["out"], (xt, wt, bt), dout_t))}, repeats)

    note = f"timed on {what}, ×{scale:g}"
    return [Row(case.name, "forward", naive_fwd * 1e3, forward["im2col"] * 1e3,
                forward["torch"] * 1e3, note),
            Row(case.name, "backward", naive_bwd * 1e3, backward["im2col"] * 1e3,
                backward["torch"] * 1e3, note)]


def print_table(rows: list[Row]) -> None:
    header = (f"{'case':<36} {'pass':<9} {'naive ms':>10} {'im2col ms':>10} {'torch ms':>9} "
              f"{'im2col vs naive':>21} {'im2col vs torch':>16}  naive timing")
    print(header)
    print("-" * len(header))
    for r in rows:
        ratio = r.slowdown_vs_torch
        vs_torch = f"{ratio:.2f}× slower" if ratio >= 1 else f"{1 / ratio:.2f}× faster"
        print(f"{r.case:<36} {r.pass_:<9} {r.naive_ms:>10.1f} {r.im2col_ms:>10.2f} "
              f"{r.torch_ms:>9.2f} {r.speedup_vs_naive:>13.0f}× faster {vs_torch:>16}  "
              f"{r.naive_scaled_from}")


def main(repeats: int = 11, naive_repeats: int = 3, threads: int | None = 1) -> list[dict]:
    """Run both cases, print the table and return its rows as dicts (times in ms, ratios:
    ``speedup_vs_naive`` = naive/im2col, ``slowdown_vs_torch`` = im2col/torch).

    ``threads`` caps both numpy's BLAS and torch (``None``: the libraries' defaults, one thread
    per core). One thread is the default because this 2-core machine is shared: with two
    threads each matrix multiply waits for a core that another process holds, and medians
    swung by up to 10× between runs (same product, 16 ms in one run, 160 ms in the next).
    """
    from threadpoolctl import threadpool_limits  # ships with scikit-learn

    saved = torch.get_num_threads()
    limits = threadpool_limits(limits=threads) if threads is not None else None
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        print(f"float32, CPU: numpy {np.__version__}, torch {torch.__version__}, "
              f"{torch.get_num_threads()} thread(s) each; median of {repeats} runs "
              f"({naive_repeats} for naive)")
        rows = [row for case in CASES for row in bench_case(case, repeats, naive_repeats)]
    finally:
        torch.set_num_threads(saved)
        if limits is not None:
            limits.restore_original_limits()
    print_table(rows)
    return [{**asdict(r), "speedup_vs_naive": r.speedup_vs_naive,
             "slowdown_vs_torch": r.slowdown_vs_torch} for r in rows]


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for numpy's BLAS and torch; 0 keeps the libraries' "
                             "defaults")
    args = parser.parse_args()
    main(repeats=args.repeats, threads=args.threads or None)
