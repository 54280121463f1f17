"""Stratified splits and subsets: every class in every part, in proportion, for a fixed seed.

One rule for every way cnnlab divides images: the ratio split of a folder of classes or of a
built-in pool, the validation share carved from a training split, `--limit`, and
`cnnlab data split --ratio`. Each class is divided on its own with largest-remainder
(Hamilton) rounding, and every part with a positive share gets at least one image of every
class. A class too small for that is an error that names it and its count: a split that
silently lacks a class trains and evaluates something other than what was asked.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from cnnlab.errors import DataError


def apportion(total: int, weights: Sequence[float], minimum: Sequence[int] | None = None) -> list[int]:
    """`total` items shared in proportion to `weights` by largest remainders, each part ≥ its minimum.

    Parts first get the floor of their quota; the items left over go to the largest fractional
    remainders (ties: the earlier part). A part below its minimum then takes items, one at a time,
    from the part that holds the most above its quota (and above its own minimum). The caller
    makes sure `total ≥ sum(minimum)`.

    >>> apportion(178, [0.8, 0.1, 0.1], [1, 1, 1])
    [142, 18, 18]
    >>> apportion(8, [0.8, 0.1, 0.1], [1, 1, 1])
    [6, 1, 1]
    """
    minimum = list(minimum) if minimum is not None else [0] * len(weights)
    scale = sum(weights)
    quotas = [total * w / scale for w in weights]
    counts = [math.floor(q) for q in quotas]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    for i, need in enumerate(minimum):
        while counts[i] < need:
            donors = [j for j in range(len(counts)) if counts[j] > minimum[j]]
            j = max(donors, key=lambda j: (counts[j] - quotas[j], -j))
            counts[j] -= 1
            counts[i] += 1
    return counts


def split_counts(n: int, fractions: Sequence[float]) -> list[int]:
    """How many of a class's `n` images go to each split: proportional, ≥ 1 for each positive fraction."""
    return apportion(n, fractions, [1 if f > 0 else 0 for f in fractions])


def short_classes_error(short: dict[str, int], fractions: Sequence[float], split_names: Sequence[str]) -> DataError:
    """The error for classes with fewer images than the splits with a positive share.

    e.g. "photos/coffee: 2 images; a 0.8/0.1/0.1 train/val/test split needs at least 3 per class
    (one per split); add images or remove the class"
    """
    need = sum(1 for f in fractions if f > 0)
    ratio = "/".join(f"{f:g}" for f in fractions)
    names = "/".join(split_names)
    classes = ", ".join(f"{where}: {n} image{'s' if n != 1 else ''}" for where, n in short.items())
    return DataError(f"{classes}; a {ratio} {names} split needs at least {need} per class (one per split); "
                     f"add images or remove the class{'es' if len(short) > 1 else ''}")


def stratified_split(labels: torch.Tensor, fractions: Sequence[float], seed: int, *,
                     class_names: Sequence[str] | None = None,
                     split_names: Sequence[str] = ("train", "val", "test")) -> list[torch.Tensor]:
    """Indices of each split, class by class in proportion to `fractions` (seeded, deterministic).

    Every split with a positive fraction gets at least one image of every class present; a
    class with fewer images than that raises a `DataError` naming it (`class_names[c]`, e.g. the
    class folder) and its count, before anything trains.
    """
    g = torch.Generator().manual_seed(seed)
    classes = torch.unique(labels).tolist()
    counts_of = {c: int((labels == c).sum()) for c in classes}
    need = sum(1 for f in fractions if f > 0)
    short = {(class_names[c] if class_names is not None else f"class {c}"): n
             for c, n in counts_of.items() if n < need}
    if short:
        raise short_classes_error(short, fractions, split_names[:len(fractions)])
    parts: list[list[torch.Tensor]] = [[] for _ in fractions]
    for c in classes:
        idx = (labels == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        start = 0
        for i, k in enumerate(split_counts(len(idx), fractions)):
            parts[i].append(idx[start:start + k])
            start += k
    return [torch.cat(p).sort().values if p else torch.zeros(0, dtype=torch.long) for p in parts]


def stratified_subset(labels: torch.Tensor, size: int, seed: int, *, what: str = "limit") -> torch.Tensor:
    """Sorted indices of `size` images that keep the class proportions, at least one per class.

    Raises a `DataError` when `size` is smaller than the number of classes present (some class
    would be missing from the subset).
    """
    if size >= len(labels):
        return torch.arange(len(labels))
    classes = torch.unique(labels).tolist()
    if size < len(classes):
        raise DataError(f"{what}: {size} images cannot hold the {len(classes)} classes (a split keeps at least "
                        f"one image of every class); use {len(classes)} or more, or fewer classes (--classes)")
    counts = [int((labels == c).sum()) for c in classes]
    take = apportion(size, counts, [1] * len(classes))
    g = torch.Generator().manual_seed(seed)
    keep = []
    for c, k in zip(classes, take):
        idx = (labels == c).nonzero().flatten()
        keep.append(idx[torch.randperm(len(idx), generator=g)[:k]])
    return torch.cat(keep).sort().values
