"""Augmented-batch throughput: cnnlab's in-memory MNIST pipeline vs the PyTorch tutorial's
DataLoader + PIL transforms, on the same images, measured side by side in one run.

    python benchmarks/bench_data.py [--data-root ../shared/data] [--images 20000]

Both pipelines produce the same thing: batches of 64 normalised 1×28×28 tensors with a random
horizontal flip and a random rotation of ±10° (the `mnist-tutorial` preset).
"""

from __future__ import annotations

import argparse
import time

import torch


def tutorial_pipeline(root: str, n_images: int, num_workers: int) -> float:
    """The tutorial's way: torchvision MNIST + PIL transforms, one image at a time."""
    import torchvision.transforms as T
    from torch.utils.data import DataLoader, Subset
    from torchvision.datasets import MNIST

    tf = T.Compose([T.RandomHorizontalFlip(), T.RandomRotation(10), T.ToTensor(), T.Normalize((0.5,), (0.5,))])
    ds = Subset(MNIST(root, train=True, download=False, transform=tf), range(n_images))
    loader = DataLoader(ds, batch_size=64, shuffle=True, num_workers=num_workers)
    start = time.perf_counter()
    seen = 0
    for x, _ in loader:
        seen += len(x)
    return seen / (time.perf_counter() - start)


def cnnlab_pipeline(root: str, n_images: int) -> float:
    """cnnlab's way: uint8 tensor in memory, one affine warp per batch (affine_grid/grid_sample)."""
    from cnnlab.data import load_data
    from cnnlab.data.augment import resolve_augment

    data = load_data("mnist", data_root=root, normalize="half", limit=n_images)
    loader = data.loader("train", 64, augment=resolve_augment("mnist-tutorial"))
    start = time.perf_counter()
    seen = 0
    for x, _ in loader:
        seen += len(x)
    return seen / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> list[dict]:
    from cnnlab.data.sources import resolve_data_root

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", default=None)
    p.add_argument("--images", type=int, default=20000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    root = str(resolve_data_root(args.data_root))
    cores = torch.get_num_threads()
    best = lambda f: max(f() for _ in range(args.repeats))  # noqa: E731  best of N: least disturbed by neighbours
    ours = best(lambda: cnnlab_pipeline(root, args.images))
    tut0 = best(lambda: tutorial_pipeline(root, args.images, 0))
    tut2 = best(lambda: tutorial_pipeline(root, args.images, 2))
    ref = max(tut0, tut2)
    rows = [
        {"pipeline": "tutorial DataLoader + PIL, 0 workers", "images/s": tut0, "ratio": tut0 / ref},
        {"pipeline": "tutorial DataLoader + PIL, 2 workers", "images/s": tut2, "ratio": tut2 / ref},
        {"pipeline": "cnnlab in-memory batched augmentation", "images/s": ours, "ratio": ours / ref},
    ]
    print(f"MNIST augmented batches (flip + rotation ±10°, batch 64, {args.images:,} images, "
          f"{cores} torch threads, best of {args.repeats})")
    print(f"{'pipeline':<42}{'images/s':>12}{'vs best tutorial':>18}")
    for r in rows:
        print(f"{r['pipeline']:<42}{r['images/s']:>12,.0f}{r['ratio']:>17.1f}×")
    return rows


if __name__ == "__main__":
    main()
