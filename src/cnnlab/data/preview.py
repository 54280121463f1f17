"""Pictures of data: a grid of a batch with labels, and one image beside its augmented versions
(with MixUp/CutMix: mixed, titled with each class's share).

`image_grid` is the one grid-drawing function; evaluation and explanation galleries use it too.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from cnnlab.data.augment import Augment, augment_batch  # noqa: E402
from cnnlab.data.bundle import DataBundle  # noqa: E402
from cnnlab.data.mixing import BatchMixer  # noqa: E402


def mixed_title(soft: torch.Tensor, class_names: Sequence[str]) -> str:
    """A soft target as its classes' shares, largest first, e.g. "7 62% + 2 38%"."""
    shares = [(float(p), class_names[c]) for c, p in enumerate(soft.tolist()) if p > 0.005]
    return " + ".join(f"{name} {p:.0%}" for p, name in sorted(shares, reverse=True))


def image_grid(images: torch.Tensor, titles: Sequence[str] | None = None, ncols: int | None = None,
               path: str | Path | None = None, suptitle: str | None = None, cmap: str = "gray",
               tile_inches: float = 1.4, title_colors: Sequence[str] | None = None):
    """Draw float images N×C×H×W (values in [0, 1]) as a grid; save to `path` if given.

    Returns the matplotlib figure (closed after saving when a path is given).
    """
    n = len(images)
    ncols = ncols or min(8, max(1, n))
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * tile_inches, nrows * tile_inches + (0.4 if suptitle else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = images[i].detach().float().cpu()
        if img.shape[0] == 1:
            ax.imshow(img[0].numpy(), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        else:
            ax.imshow(img.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
        if titles is not None:
            color = title_colors[i] if title_colors is not None else "black"
            ax.set_title(titles[i], fontsize=8, color=color)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig


def preview_batch(data: DataBundle, path: str | Path, split: str = "train", n: int = 32,
                  augment: Augment | None = None, seed: int = 0, mixer: BatchMixer | None = None) -> Path:
    """Save a grid of the first `n` images of a (shuffled) batch with their class names.

    mixer: MixUp/CutMix the batch as training would; titles give each class's share.
    """
    loader = data.loader(split, n, shuffle=True, augment=augment, seed=seed)
    x, y = next(iter(loader))
    if mixer is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            x, soft = mixer(x, y)
        titles = [mixed_title(t, data.class_names) for t in soft]
    else:
        titles = [data.class_names[i] for i in y.tolist()]
    images = data.preprocessing.denormalize(x)
    what = f"{data.name} {split}" + (" (augmented)" if augment is not None and not augment.is_identity else "")
    what += f" ({mixer.describe().split(' per batch')[0]})" if mixer is not None else ""
    image_grid(images, titles, path=path, suptitle=what)
    return Path(path)


def preview_augmented(data: DataBundle, path: str | Path, augment: Augment, index: int = 0, n: int = 8,
                      split: str = "train", seed: int = 0, mixer: BatchMixer | None = None) -> Path:
    """Save one image followed by `n` random augmentations of it.

    mixer: each version is then mixed (MixUp/CutMix) with another random image of the split,
    titled with each class's share.
    """
    s = data.split(split)
    img = s.uint8_images(torch.tensor([index]), data.preprocessing).float() / 255.0
    g = torch.Generator().manual_seed(seed)
    versions = augment_batch(img.repeat(n, 1, 1, 1), augment, g, policy_group=1)  # each its own policy draw
    label = data.class_names[int(s.labels[index])]
    titles = [f"original ({label})"] + [f"augmented {i + 1}" for i in range(n)]
    if mixer is not None:
        others = torch.randint(len(s), (n,), generator=g)
        partners = augment_batch(s.uint8_images(others, data.preprocessing).float() / 255.0, augment, g, policy_group=1)
        mixed, shares = [], []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for i in range(n):  # one batch of two per version: torchvision draws one mix per batch
                pair = torch.stack([partners[i], versions[i]])  # it mixes image j with image j − 1
                x, soft = mixer(pair, torch.stack([s.labels[others[i]], s.labels[index]]))
                mixed.append(x[1])
                shares.append(mixed_title(soft[1], data.class_names))
        versions = torch.stack(mixed)
        titles = [f"original ({label})"] + shares
    images = torch.cat([img, versions])
    image_grid(images, titles, ncols=min(9, n + 1), path=path, suptitle=f"{data.name}: one image, {n} augmentations")
    return Path(path)
