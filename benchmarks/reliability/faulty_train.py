"""`cnnlab train` with a SIGKILL planted at a chosen point: a training batch, an evaluation batch,
or a checkpoint write (after the temporary file is written, before the rename).

    python -m reliability.faulty_train batch 37 -- train --data digits ...

The process kills itself with SIGKILL (no cleanup, no atexit, as the OOM killer or a pulled plug
would) on the N-th occurrence of the point. Nothing here is imported by cnnlab itself.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys

from pathlib import Path

import torch

POINTS = ("batch", "eval", "checkpoint")


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def plant(point: str, n: int, counts_file: str | None = None) -> None:
    """Arrange for SIGKILL at the n-th training batch / evaluation batch / checkpoint write
    (n = 0: never). With `counts_file`, write how many of each point the run had, in total and
    when epoch 1's checkpoints were complete (best.pt, then last.pt), as JSON at exit."""
    if point not in POINTS:
        raise SystemExit(f"point must be one of {POINTS}, got {point!r}")
    counts = dict.fromkeys(POINTS, 0)
    after_first: dict[str, int] = {}

    def hit(which: str) -> None:
        counts[which] += 1
        if which == point and counts[which] == n:
            die()

    # Every batch computes the loss once: with gradients in training, without in evaluation. A
    # global forward hook on loss modules sees both and kills mid-batch (after the forward pass,
    # before the optimizer step).
    def hook(module, args, output):
        if isinstance(module, torch.nn.modules.loss._Loss):
            hit("batch" if torch.is_grad_enabled() else "eval")

    torch.nn.modules.module.register_module_forward_hook(hook)
    real_replace = os.replace

    def replace(src, dst, *a, **kw):
        if str(dst).endswith(".pt"):
            hit("checkpoint")  # the temporary file is complete; the rename has not happened
        result = real_replace(src, dst, *a, **kw)
        if str(dst).endswith("last.pt") and not after_first:
            after_first.update(counts)
        return result

    os.replace = replace
    if counts_file:
        atexit.register(lambda: Path(counts_file).write_text(json.dumps(dict(counts, after_first_checkpoint=after_first))))


def main(argv: list[str]) -> None:
    point, n, sep, *cli_args = argv
    if sep != "--":
        raise SystemExit("usage: faulty_train POINT N -- CNNLAB-ARGS...")
    plant(point, int(n), os.environ.get("CNNLAB_FAULT_COUNTS"))
    from cnnlab.cli import main as cnnlab_main

    cnnlab_main(cli_args)


if __name__ == "__main__":
    main(sys.argv[1:])
