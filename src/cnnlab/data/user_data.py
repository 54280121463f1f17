"""Your own data: what `fit(data=...)` takes besides a source name or folder.

    fit(data=load_data("digits", limit=500))                      # a bundle of cnnlab's own
    fit(data=(ImageFolder("x/train"), ImageFolder("x/val")))      # torch Datasets: (train, val[, test])
    fit(data=(train_loader, val_loader), class_names=[...])       # DataLoaders, batched as they are

Datasets whose items are images (PIL images or uint8 C×H×W tensors, as torchvision's
ImageFolder and MNIST give without a transform) are decoded once into memory and then go
through cnnlab's own pipeline: resize, augmentation, normalisation from the training split.
Items that are float tensors already went through your transform: the model sees them as they
are (cnnlab adds no augmentation), and the checkpoint's preprocessing is `normalize` when you
give it as mean/std lists, else none; so a later `predict` on image files prepares them the
same way only if your transform was ToTensor (plus resizing) or you passed those statistics.

The run records what it can: ImageFolders under one folder as train/, val/ (test/) record that
folder, so every later verb rebuilds the data; any other objects are recorded by description,
and the verbs that need the data again (evaluate, the report, explain's whole-split methods)
say so and take `--data`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterator

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from cnnlab.data.images import pil_to_tensor
from cnnlab.data.loaders import Split
from cnnlab.data.transforms import Preprocessing, convert_channels, match_channels, resize_uint8
from cnnlab.errors import ConfigError
from cnnlab.settings import DataConfig

OBJECTS_PREFIX = "<python objects"  # a recorded source that no later verb can load again
MEMORY_LIMIT = 2 * 1024**3  # decoded uint8 images held in memory at most (as for image folders)


def is_user_data(data: Any) -> bool:
    """True for what `fit(data=...)` takes besides a name, folder, mapping or DataConfig."""
    from cnnlab.data.bundle import DataBundle

    if isinstance(data, (DataBundle, Dataset, DataLoader)):
        return True
    return isinstance(data, (tuple, list)) and len(data) in (2, 3) and \
        all(isinstance(d, (Dataset, DataLoader)) or d is None for d in data)


def recorded_source(data: Any) -> str:
    """The `data.source` a run records for these objects: the folder of ImageFolders that sit
    in it as train/ and val/ (test/), else a description no verb can load."""
    parts = [d for d in (data if isinstance(data, (tuple, list)) else [data]) if d is not None]
    roots = [Path(getattr(d, "root", "")) for d in parts]
    plain = all(hasattr(d, "samples") and getattr(d, "transform", None) is None for d in parts)
    names = ["train", "val", "test"][: len(parts)]
    if plain and len(parts) >= 2 and [r.name for r in roots] == names and len({r.parent for r in roots}) == 1:
        return str(roots[0].parent)
    kinds = ", ".join(type(d).__name__ for d in parts)
    return f"{OBJECTS_PREFIX}: {kinds}>"  # load_data refuses it with what to do instead


def bundle_from_objects(data: Any, cfg: DataConfig, class_names: list[str] | None = None):
    """A DataBundle of your Datasets or DataLoaders (a DataBundle is returned as it is)."""
    from cnnlab.data.bundle import DataBundle, _normalization

    if isinstance(data, DataBundle):
        return data
    parts = list(data) if isinstance(data, (tuple, list)) else [data]
    if len(parts) < 2 or parts[0] is None or parts[1] is None:
        raise ConfigError("data: expected (train, val) or (train, val, test) Datasets or DataLoaders, "
                          f"got {len(parts)} object(s); a validation split is needed to pick the best epoch")
    class_names = _class_names(parts[0], class_names)
    first = _first_item(parts[0])
    if all(isinstance(p, Dataset) for p in parts if p is not None) and _is_image(first):
        channels = cfg.channels or _as_uint8(first).shape[0]
        size = tuple(cfg.image_size or _as_uint8(first).shape[-2:])
        splits = [_decode(p, channels, size, cfg.resize, name) if p is not None else None
                  for p, name in zip(parts, ("train", "val", "test"))]
        mean, std = _normalization(cfg, splits[0], channels, size)
    else:
        if not torch.is_tensor(first) or not first.is_floating_point() or first.dim() != 3:
            raise ConfigError(f"data: items of {type(parts[0]).__name__} are {type(first).__name__}; expected "
                              "(image, label) with a PIL image, a uint8 C×H×W tensor, or a float C×H×W tensor")
        channels, size = int(first.shape[0]), tuple(first.shape[-2:])
        if channels not in (1, 3):
            raise ConfigError(f"data: items have {channels} channels (expected 1 or 3)")
        splits = [ObjectSplit(p) if p is not None else None for p in parts]
        norm = cfg.normalize
        if isinstance(norm, (list, tuple)) and len(norm) == 2:
            mean, std = match_channels(norm[0], channels), match_channels(norm[1], channels)
        else:  # your transform normalised (or not) already: nothing more is done to the batches
            mean, std = (0.0,) * channels, (1.0,) * channels
    pre = Preprocessing(size, channels, mean, std, cfg.resize)
    config = dataclasses.replace(cfg, image_size=size, channels=channels, normalize=[list(mean), list(std)])
    test = splits[2] if len(splits) > 2 else None
    return DataBundle(name=config.source, class_names=class_names, preprocessing=pre, train=splits[0],
                      val=splits[1], test=test, config=config)


def _class_names(train: Any, given: list[str] | None) -> list[str]:
    dataset = train.dataset if isinstance(train, DataLoader) else train
    names = given or getattr(dataset, "classes", None)
    if not names:
        raise ConfigError(f"class_names: {type(dataset).__name__} has no `classes` attribute; pass "
                          "class_names=[...] to fit, one per label, in label order")
    return [str(n) for n in names]


def _first_item(part: Any) -> Any:
    if isinstance(part, DataLoader):
        x, _ = next(iter(part))
        return x[0]
    if len(part) == 0:
        raise ConfigError(f"data: the training {type(part).__name__} is empty")
    item = part[0]
    if not (isinstance(item, (tuple, list)) and len(item) >= 2):
        raise ConfigError(f"data: items of {type(part).__name__} are {type(item).__name__}; expected (image, label)")
    return item[0]


def _is_image(x: Any) -> bool:
    return isinstance(x, Image.Image) or (torch.is_tensor(x) and x.dtype == torch.uint8 and x.dim() in (2, 3))


def _as_uint8(x: Any) -> torch.Tensor:
    if isinstance(x, Image.Image):
        return pil_to_tensor(x.convert("RGB") if x.mode not in ("L", "RGB") else x)
    return x if x.dim() == 3 else x[None]


def _decode(dataset: Dataset, channels: int, size: tuple[int, int], resize: str, split: str) -> Split:
    """Every image of a Dataset, decoded once into memory at the input size."""
    n = len(dataset)
    if n * channels * size[0] * size[1] > MEMORY_LIMIT:
        raise ConfigError(f"data: the {split} Dataset holds {n:,} images of {channels}×{size[0]}×{size[1]}, over "
                          f"{MEMORY_LIMIT // 1024**3} GiB decoded; pass its folder instead (data='path/'), which streams")
    images = torch.empty(n, channels, *size, dtype=torch.uint8)
    labels = torch.empty(n, dtype=torch.long)
    for i in range(n):
        x, y = dataset[i][:2]
        images[i] = resize_uint8(convert_channels(_as_uint8(x)[None], channels), size, resize)[0]
        labels[i] = int(y)
    return Split(labels, images)


class ObjectSplit:
    """A split that is your Dataset or DataLoader of transformed (float) images, batched by torch."""

    def __init__(self, source: Dataset | DataLoader):
        self.source = source
        self.images, self.paths, self.sizes = None, None, []
        self._labels: torch.Tensor | None = None

    @property
    def dataset(self) -> Dataset:
        return self.source.dataset if isinstance(self.source, DataLoader) else self.source

    def __len__(self) -> int:
        return len(self.dataset)

    in_memory = False

    @property
    def labels(self) -> torch.Tensor:
        """Every label: the dataset's `targets` when it has them, else read in one pass."""
        if self._labels is None:
            targets = getattr(self.dataset, "targets", None)
            if targets is not None and len(targets) == len(self):
                self._labels = torch.as_tensor(list(targets), dtype=torch.long)
            else:
                self._labels = torch.tensor([int(self.dataset[i][1]) for i in range(len(self))], dtype=torch.long)
        return self._labels

    def subset(self, index: torch.Tensor) -> ObjectSplit:
        return ObjectSplit(torch.utils.data.Subset(self.dataset, index.tolist()))

    def loader(self, batch_size: int, *, shuffle: bool, augment: Any = None, seed: int = 0,
               device: torch.device | str = "cpu", channels_last: bool = False, num_workers: int = 0,
               world_size: int = 1, **_: Any) -> ObjectLoader:
        if augment is not None and not augment.is_identity:
            raise ConfigError("augment: your Dataset's own transform does the augmentation of float images; "
                              "set augment: none (or give images, which cnnlab augments)")
        if world_size > 1:
            raise ConfigError("devices: your own Datasets/DataLoaders train on one device (give a folder to "
                              "train data-parallel)")
        return ObjectLoader(self.source, batch_size, shuffle, seed, torch.device(device), channels_last, num_workers)


class ObjectLoader:
    """Batches of your Dataset (shuffled per epoch, seeded) or your DataLoader as it is, on the device."""

    def __init__(self, source, batch_size: int, shuffle: bool, seed: int, device: torch.device,
                 channels_last: bool, num_workers: int):
        self.source, self.batch_size, self.shuffle, self.seed = source, batch_size, shuffle, seed
        self.device, self.channels_last, self.num_workers = device, channels_last, num_workers
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _loader(self) -> DataLoader:
        if isinstance(self.source, DataLoader):
            return self.source
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return DataLoader(self.source, batch_size=self.batch_size, shuffle=self.shuffle, generator=g,
                          num_workers=self.num_workers)

    def __len__(self) -> int:
        return len(self._loader())

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in self._loader():
            x = x.to(self.device, non_blocking=True).float()
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, torch.as_tensor(y).long().to(self.device, non_blocking=True)
