"""Batches for training and evaluation: uint8 images in, augmented and normalised floats out.

Two sources feed the same loader. Data sets that fit in memory (MNIST, CIFAR-10, digits, a
cached folder) are one uint8 tensor, indexed a batch at a time. Large folders stream through
DataLoader workers that decode and resize files with PIL. Either way augmentation and
normalisation run on whole batches, on the training device.

Shuffling and augmentation draw from a generator seeded with (seed, epoch), so epoch k is the
same whether a run went straight through or was resumed at k: the basis of exact resume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from cnnlab.data.augment import Augment, augment_batch
from cnnlab.data.images import ImageLoadError, read_image
from cnnlab.data.transforms import Preprocessing, convert_channels, resize_uint8


@dataclass
class Split:
    """One split of a data set: labels, plus uint8 images N×C×H×W in memory or files on disk."""

    labels: torch.Tensor
    images: torch.Tensor | None = None
    paths: list[Path] | None = None
    sizes: list[tuple[int, int]] = field(default_factory=list)  # original (H, W) of files, for stats

    def __post_init__(self) -> None:
        if self.images is None and self.paths is None:
            raise ValueError("a Split needs images or paths")
        n = len(self.images) if self.images is not None else len(self.paths)
        if n != len(self.labels):
            raise ValueError(f"{n} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def in_memory(self) -> bool:
        return self.images is not None

    def subset(self, index: torch.Tensor) -> "Split":
        """The images at `index` (a LongTensor), keeping their order."""
        idx = index.tolist()
        return Split(labels=self.labels[index],
                     images=self.images[index] if self.images is not None else None,
                     paths=[self.paths[i] for i in idx] if self.paths is not None else None,
                     sizes=[self.sizes[i] for i in idx] if self.sizes else [])

    def uint8_images(self, index: torch.Tensor, preprocessing: Preprocessing) -> torch.Tensor:
        """uint8 images at `index`, from memory or decoded from disk."""
        if self.images is not None:
            return self.images[index]
        return torch.stack([_load_file(self.paths[i], preprocessing) for i in index.tolist()])


def _load_file(path: Path, pre: Preprocessing) -> torch.Tensor:
    return resize_uint8(convert_channels(read_image(path, pre.channels), pre.channels), pre.input_size, pre.resize)


class _FileDataset(Dataset):
    """Decodes one file per item in a worker; files failed the scan were already dropped."""

    def __init__(self, paths: list[Path], pre: Preprocessing):
        self.paths, self.pre = paths, pre

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        try:
            return _load_file(self.paths[i], self.pre), i
        except ImageLoadError:
            # A file changed on disk after the scan: give a black image rather than kill the
            # epoch; its index is reported back so the loader can count it.
            return torch.zeros(self.pre.channels, *self.pre.input_size, dtype=torch.uint8), -1 - i


class BatchLoader:
    """Iterates (images, labels) batches of one split, ready for the model.

    images: float32 N×C×H×W, augmented (training) and normalised, on `device`.
    rank/world_size shard the (shuffled) order for data-parallel training: each rank sees
    every world_size-th sample, all ranks the same number of batches.
    balance: draw the epoch's order with torch's `WeightedRandomSampler` (with replacement, each
    image weighted 1 / its class's count), so every class is drawn equally often; an epoch
    keeps the split's length.
    """

    def __init__(self, split: Split, preprocessing: Preprocessing, batch_size: int, *,
                 shuffle: bool = False, augment: Augment | None = None, seed: int = 0,
                 drop_last: bool = False, device: torch.device | str = "cpu",
                 channels_last: bool = False, rank: int = 0, world_size: int = 1,
                 num_workers: int = 0, balance: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        self.split, self.pre = split, preprocessing
        self.batch_size, self.shuffle, self.augment = batch_size, shuffle, augment
        self.seed, self.drop_last, self.device = seed, drop_last, torch.device(device)
        self.channels_last, self.rank, self.world_size = channels_last, rank, world_size
        self.num_workers, self.balance = num_workers, balance
        self.epoch = 0
        self.unreadable: set[int] = set()

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order and augmentation the next iteration reproduces."""
        self.epoch = epoch

    def _generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)

    def _order(self, g: torch.Generator) -> torch.Tensor:
        n = len(self.split)
        if self.balance:
            from torch.utils.data import WeightedRandomSampler

            counts = torch.bincount(self.split.labels).double()
            weights = 1.0 / counts[self.split.labels]
            order = torch.tensor(list(WeightedRandomSampler(weights, n, replacement=True, generator=g)))
        else:
            order = torch.randperm(n, generator=g) if self.shuffle else torch.arange(n)
        if self.world_size > 1:
            per_rank = math.ceil(n / self.world_size)
            order = torch.cat([order, order[: per_rank * self.world_size - n]])  # pad as DistributedSampler
            order = order[self.rank::self.world_size]
        return order

    def __len__(self) -> int:
        n = math.ceil(len(self.split) / self.world_size)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _index_batches(self, order: torch.Tensor) -> list[torch.Tensor]:
        batches = list(order.split(self.batch_size))
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches

    def _uint8_batches(self, batches: list[torch.Tensor]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.split.in_memory or self.num_workers == 0:
            for idx in batches:
                yield self.split.uint8_images(idx, self.pre), idx
            return
        flat = torch.cat(batches) if batches else torch.zeros(0, dtype=torch.long)
        ds = torch.utils.data.Subset(_FileDataset(self.split.paths, self.pre), flat.tolist())
        loader = DataLoader(ds, batch_size=self.batch_size, shuffle=False, num_workers=self.num_workers,
                            persistent_workers=False, pin_memory=self.device.type == "cuda")
        for images, idx in loader:
            bad = idx < 0
            if bad.any():
                self.unreadable.update((-1 - idx[bad]).tolist())
                idx = torch.where(bad, -1 - idx, idx)
            yield images, idx

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g = self._generator()
        batches = self._index_batches(self._order(g))
        for images, idx in self._uint8_batches(batches):
            x = images.to(self.device, non_blocking=True).to(torch.float32).div_(255.0)
            if self.augment is not None and not self.augment.is_identity:
                x = augment_batch(x, self.augment, g)
            x = self.pre.normalize(x, inplace=True)  # x is this batch's own float copy
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.split.labels[idx].to(self.device, non_blocking=True)
