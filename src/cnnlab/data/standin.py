"""Stand-in data for smoke runs: random images with the shape and classes of a data source
that is not on this machine, so a recipe can be checked end to end without its data."""

from __future__ import annotations

import dataclasses

import torch

from cnnlab.data.bundle import DataBundle, DataConfig
from cnnlab.data.loaders import Split
from cnnlab.data.transforms import Preprocessing, match_channels, normalization_values

# (channels, height, width, class names) of the built-in sources.
BUILTIN_SHAPES = {
    "digits": (1, 8, 8, [str(i) for i in range(10)]),
    "mnist": (1, 28, 28, [str(i) for i in range(10)]),
    "fashion-mnist": (1, 28, 28, ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                  "Sneaker", "Bag", "Ankle boot"]),
    "cifar10": (3, 32, 32, ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                            "truck"]),
}


def standin_bundle(cfg: DataConfig, per_split: int = 64) -> DataBundle:
    """Random uint8 images shaped like `cfg.source` would load (a folder: 2 classes, 3×224×224
    unless the config says otherwise), `per_split` images per split."""
    if cfg.source in BUILTIN_SHAPES:
        c, h, w, names = BUILTIN_SHAPES[cfg.source]
    else:
        c, h, w, names = 3, 224, 224, ["class0", "class1"]
    c = cfg.channels or c
    h, w = cfg.image_size or (h, w)
    names = list(cfg.classes) if cfg.classes else names
    g = torch.Generator().manual_seed(cfg.seed)

    def split() -> Split:
        labels = torch.arange(per_split) % len(names)
        images = torch.randint(0, 256, (per_split, c, h, w), dtype=torch.uint8, generator=g)
        return Split(labels, images)

    norm = cfg.normalize
    if isinstance(norm, str) and norm != "dataset":
        mean, std = normalization_values(norm, c)
    elif isinstance(norm, (list, tuple)):
        mean, std = match_channels(norm[0], c), match_channels(norm[1], c)
    else:
        mean, std = (0.5,) * c, (0.29,) * c  # uniform noise statistics
    pre = Preprocessing((h, w), c, mean, std, cfg.resize)
    return DataBundle(name=f"{cfg.source} (stand-in)", class_names=names, preprocessing=pre,
                      train=split(), val=split(), test=split(), config=dataclasses.replace(cfg))
