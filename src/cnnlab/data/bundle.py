"""`load_data`: one call from a data source to train/val/test splits ready for training."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

import torch

from cnnlab.data.augment import Augment
from cnnlab.data.folders import (SkippedFile, decode_files, default_channels, default_image_size,
                                 scan_folder)
from cnnlab.data.loaders import BatchLoader, Split
from cnnlab.data.sources import BUILTIN_SOURCES, resolve_data_root
from cnnlab.data.stratify import stratified_split, stratified_subset
from cnnlab.data.transforms import (Preprocessing, compute_mean_std, convert_channels, match_channels,
                                    normalization_values, resize_uint8)
from cnnlab.errors import ConfigError, DataError
from cnnlab.settings import DataConfig  # declared with every other setting, once

SPLIT_NAMES = ("train", "val", "test")
# Folders whose decoded images fit under this many bytes are held in memory as uint8.
DEFAULT_MEMORY_LIMIT = 2 * 1024**3


@dataclass
class DataBundle:
    """Train/val/test splits with their class names and preprocessing, ready for training."""

    name: str
    class_names: list[str]
    preprocessing: Preprocessing
    train: Split
    val: Split
    test: Split | None
    config: DataConfig
    skipped: list[SkippedFile] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def channels(self) -> int:
        return self.preprocessing.channels

    @property
    def input_size(self) -> tuple[int, int]:
        return self.preprocessing.input_size

    def split(self, name: str) -> Split:
        """The split called `name` ("train", "val" or "test")."""
        if name not in SPLIT_NAMES:
            raise ConfigError(f"split: {name!r} (expected one of {SPLIT_NAMES})")
        s = getattr(self, name)
        if s is None:
            raise DataError(f"{self.name}: has no {name!r} split (add a {name}/ folder, or use --split val)")
        return s

    def class_counts(self, name: str) -> list[int]:
        """Images per class in a split, in class order."""
        s = self.split(name)
        return torch.bincount(s.labels, minlength=self.num_classes).tolist()

    def loader(self, split: str, batch_size: int, *, shuffle: bool | None = None,
               augment: Augment | None = None, seed: int | None = None, **kwargs: Any) -> BatchLoader:
        """Batches of one split; the training split is shuffled unless told otherwise."""
        if hasattr(self.split(split), "loader"):  # your own Dataset/DataLoader (cnnlab.data.user_data)
            return self.split(split).loader(batch_size, shuffle=(split == "train") if shuffle is None else shuffle,
                                            augment=augment, seed=self.config.seed if seed is None else seed, **kwargs)
        return BatchLoader(self.split(split), self.preprocessing, batch_size,
                           shuffle=(split == "train") if shuffle is None else shuffle,
                           augment=augment, seed=self.config.seed if seed is None else seed, **kwargs)

    def summary(self) -> dict[str, Any]:
        """Images per split and per class, for logs and metrics.json."""
        return {"name": self.name, "classes": self.class_names,
                "input_size": list(self.input_size), "channels": self.channels,
                "splits": {n: len(getattr(self, n)) for n in SPLIT_NAMES if getattr(self, n) is not None},
                "skipped_files": len(self.skipped)}


def _subset_per_class(split: Split, per_class: int, seed: int) -> Split:
    g = torch.Generator().manual_seed(seed + 17)
    keep = []
    for c in torch.unique(split.labels).tolist():
        idx = (split.labels == c).nonzero().flatten()
        keep.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    return split.subset(torch.cat(keep).sort().values)


def _subset_limit(split: Split, limit: int, seed: int, name: str) -> Split:
    """At most `limit` images of a split, stratified: every class kept, in proportion."""
    if len(split) <= limit:
        return split
    return split.subset(stratified_subset(split.labels, limit, seed + 29, what=f"limit ({name} split)"))


def _select_classes(splits: dict[str, Split], class_names: list[str], wanted: list[str], where: str
                    ) -> tuple[dict[str, Split], list[str]]:
    unknown = [c for c in wanted if c not in class_names]
    if unknown:
        raise ConfigError(f"data.classes: {unknown} not in {where} (its classes: {class_names})")
    old = torch.tensor([class_names.index(c) for c in wanted])
    remap = torch.full((len(class_names),), -1, dtype=torch.long)
    remap[old] = torch.arange(len(wanted))
    out = {}
    for name, s in splits.items():
        keep = (remap[s.labels] >= 0).nonzero().flatten()
        sub = s.subset(keep)
        sub.labels = remap[sub.labels]
        out[name] = sub
    return out, list(wanted)


def _load_builtin(cfg: DataConfig) -> tuple[str, list[str], dict[str, Split], list[SkippedFile]]:
    raw = BUILTIN_SOURCES[cfg.source](resolve_data_root(cfg.data_root), cfg.download)
    pool = Split(raw.train_labels, raw.train_images)
    names = [f"{raw.name} class {c!r}" for c in raw.class_names]
    if raw.test_images is None:  # one pool (digits): split by ratio
        tr, va, te = stratified_split(pool.labels, cfg.split, cfg.seed, class_names=names)
        splits = {"train": pool.subset(tr), "val": pool.subset(va)}
        if len(te):
            splits["test"] = pool.subset(te)
    else:
        tr, va = stratified_split(pool.labels, [1 - cfg.val_fraction, cfg.val_fraction], cfg.seed,
                                  class_names=names)
        splits = {"train": pool.subset(tr), "val": pool.subset(va),
                  "test": Split(raw.test_labels, raw.test_images)}
    return raw.name, raw.class_names, splits, []


def _load_folder(cfg: DataConfig) -> tuple[str, list[str], dict[str, Split], list[SkippedFile], int, tuple[int, int]]:
    scan = scan_folder(cfg.source, cfg.max_pixels)
    channels = cfg.channels or default_channels(scan)
    size = cfg.image_size or default_image_size(scan)
    n_files = sum(len(v) for v in scan.files.values())
    if cfg.in_memory == "auto":
        in_memory = n_files * channels * size[0] * size[1] <= DEFAULT_MEMORY_LIMIT
    else:
        in_memory = bool(cfg.in_memory)
    skipped = list(scan.skipped)
    splits: dict[str, Split] = {}
    for name, items in scan.files.items():
        paths = [p for p, _ in items]
        tensors, failed = decode_files(paths, channels, size, cfg.resize, keep=in_memory, max_pixels=cfg.max_pixels)
        skipped.extend(failed)
        bad = {s.path for s in failed}
        keep = [i for i, p in enumerate(paths) if str(p) not in bad]
        labels = torch.tensor([items[i][1] for i in keep], dtype=torch.long)
        kept_paths = [paths[i] for i in keep]
        images = torch.stack([tensors[i] for i in keep]) if in_memory and keep else None
        split = Split(labels, images, kept_paths, [scan.sizes[p] for p in kept_paths])
        counts = torch.bincount(labels, minlength=len(scan.class_names)).tolist()
        for ci, cnt in enumerate(counts):
            if cnt == 0:
                where = scan.root / (name if scan.presplit else "") / scan.class_names[ci]
                raise DataError(f"{where}: 0 readable images (every file was skipped; see the scan report); "
                                "remove the folder or add images")
        splits[name] = split
    if not scan.presplit:
        pool = splits.pop("all")
        tr, va, te = stratified_split(pool.labels, cfg.split, cfg.seed,
                                      class_names=[str(scan.root / c) for c in scan.class_names])
        splits = {"train": pool.subset(tr), "val": pool.subset(va)}
        if len(te):
            splits["test"] = pool.subset(te)
    elif "val" not in splits:
        pool = splits["train"]
        tr, va = stratified_split(pool.labels, [1 - cfg.val_fraction, cfg.val_fraction], cfg.seed,
                                  class_names=[str(scan.root / "train" / c) for c in scan.class_names])
        splits["train"], splits["val"] = pool.subset(tr), pool.subset(va)
    return Path(cfg.source).name, scan.class_names, splits, skipped, channels, size


def load_data(source: str | Path | DataConfig = "digits", **options: Any) -> DataBundle:
    """Load a data source into train/val/test splits with class names and preprocessing.

    `source` is "digits", "mnist", "fashion-mnist", "cifar10" or a folder; `options` are the
    fields of `DataConfig` (image_size, channels, normalize, split, classes, limit, ...).

    >>> data = load_data("digits")
    >>> data.class_names[:3], data.input_size, len(data.train)
    (['0', '1', '2'], (8, 8), 1437)
    """
    known = {f.name for f in fields(DataConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"load_data: unknown option(s) {unknown}; expected some of {sorted(known)}")
    if isinstance(source, DataConfig):
        cfg = dataclasses.replace(source, **options) if options else source
    else:
        cfg = DataConfig(source=str(source), **options)

    if cfg.source in BUILTIN_SOURCES:
        name, class_names, splits, skipped = _load_builtin(cfg)
        channels = cfg.channels or splits["train"].images.shape[1]
        size = cfg.image_size or tuple(splits["train"].images.shape[-2:])
    elif cfg.source.startswith("<"):  # fit(data=<your objects>) recorded them by description (user_data)
        raise DataError(f"{cfg.source}: the run trained on Python objects given to fit(data=...), which cannot "
                        "be loaded again from the run folder; pass the data again (`--data FOLDER`, or data=...)")
    elif Path(cfg.source).exists():
        name, class_names, splits, skipped, channels, size = _load_folder(cfg)
    else:
        raise DataError(f"data source {cfg.source!r}: not a built-in data set ({', '.join(BUILTIN_SOURCES)}) "
                        "and no such folder")

    if cfg.classes is not None:
        splits, class_names = _select_classes(splits, class_names, cfg.classes, cfg.source)
    if cfg.per_class is not None:
        splits["train"] = _subset_per_class(splits["train"], cfg.per_class, cfg.seed)
    if cfg.limit is not None:
        splits = {k: _subset_limit(s, cfg.limit, cfg.seed, k) for k, s in splits.items()}

    for s in splits.values():  # in-memory images: convert channels and resize once, up front
        if s.images is not None:
            s.images = resize_uint8(convert_channels(s.images, channels), size, cfg.resize)

    mean, std = _normalization(cfg, splits["train"], channels, size)
    pre = Preprocessing(input_size=size, channels=channels, mean=mean, std=std, resize=cfg.resize)
    return DataBundle(name=name, class_names=class_names, preprocessing=pre, train=splits["train"],
                      val=splits["val"], test=splits.get("test"), config=cfg, skipped=skipped)


def _normalization(cfg: DataConfig, train: Split, channels: int, size: tuple[int, int]
                   ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    norm = cfg.normalize
    if isinstance(norm, str) and norm != "dataset":
        return normalization_values(norm, channels)
    if isinstance(norm, (list, tuple)):
        if len(norm) != 2:
            raise ConfigError(f"data.normalize: {norm} (expected a name or [[mean...], [std...]])")
        return match_channels(norm[0], channels), match_channels(norm[1], channels)
    if norm != "dataset":
        raise ConfigError(f"data.normalize: {norm!r} (expected a name or [[mean...], [std...]])")
    if train.images is not None:
        return compute_mean_std(train.images)
    # Streaming folder: statistics of up to 1,000 training images.
    pre = Preprocessing(size, channels, (0.0,) * channels, (1.0,) * channels, cfg.resize)
    n = min(1000, len(train))
    idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(cfg.seed))[:n]
    return compute_mean_std(train.uint8_images(idx, pre))
