"""What `cnnlab train` chooses when the user does not: the photo-folder default and the
fine-tuning recipe that `--transfer finetune` brings with it.

    settings, note = chosen_defaults({"data": "photos/"})
    # settings: efficientnet_lite0 from its ImageNet weights, transfer finetune, ...; note: one line saying why

A folder of RGB photos (larger than about 64 px) with no `--model`, `--transfer` or `--weights`
gets EfficientNet-Lite0 (its ImageNet weights ship in a package, so this works offline) by
transfer learning: a head on cached features, then fine-tuning of the top five blocks on
augmented 224-px crops. A small grayscale, digit-like folder keeps the small CNN from scratch.
`--transfer finetune` alone gets the same fine-tuning rules on whatever model it is given.

The recipe is the one measured for issue 18 on cats_and_dogs_small (/work/notes/issue18_research_report.md):
99.2–99.3 % test on the full set, 98.9–99.0 % on 100 photos per class (a head on cached
features: 98.25–98.45 %). Settings the user gives always win; a config file is taken as written.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from cnnlab.data.images import GRAY_MODES, is_image_file, open_image_header

# Small photos and digits below this (shorter side, px) are not "photos": a small CNN from scratch suits them.
MIN_PHOTO_SIDE = 64
PHOTO_MODEL = "efficientnet_lite0"

# `--transfer finetune`'s own rules; a value the user gives replaces its entry.
FINETUNE_DEFAULTS: dict[str, Any] = {
    "optimizer": "adamw",     # decoupled weight decay (none on biases and BatchNorm: see param_groups)
    "weight_decay": 0.01,
    "scheduler": "cosine",    # per phase, after a short linear warm-up
    "warmup_epochs": 0.3,
    "lr": 1e-3,               # the head phase; the fine-tuning phase runs at lr/10 (finetune_lr)
    "label_smoothing": 0.1,
    "head_dropout": 0.2,
    "channels_last": True,    # 1.6–1.7× the images/s of NCHW for Lite0 on the CPU (issue 22)
    # the best epoch by val_loss (the default monitor), not val_acc: on 1,000 validation photos
    # accuracy moves in steps of 0.1 %, and a tie keeps the earlier epoch, i.e. the head phase
    # (measured: the first fine-tuning epoch tied the head's 98.8 % while its loss fell 0.234 → 0.230)
}
# Measured for Lite0: the top five blocks (blocks.3 … conv_head) beat the top three and do not
# overfit 200 photos; the frozen bottom runs without autograd, 2× the images/s of all unfrozen.
MODEL_UNFREEZE = {PHOTO_MODEL: "5"}
HEAD_EPOCHS = 10
# Fine-tuning length: about 60 optimizer steps of 32 at least (small folders), at most 10 epochs,
# at least 3 (2,000 photos: 3 epochs ≈ 190 steps reached 99.2–99.3 %).
MIN_FINETUNE_STEPS = 60


def sample_images(folder: Path, limit: int = 16) -> list[Path]:
    """Up to `limit` image files of a folder tree, spread over its sub-folders (symlinks not followed)."""
    per_dir: list[list[Path]] = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files = sorted(Path(root) / n for n in names if is_image_file(n))
        if files:
            per_dir.append(files)
    picked: list[Path] = []
    for i in range(limit):
        for files in per_dir:
            if i < len(files) and len(picked) < limit:
                picked.append(files[i])
    return picked


def photo_folder_reason(source: str) -> str | None:
    """Why `source` is a folder of photos (e.g. "RGB photos of about 500×374"), or None when it
    is not a folder, or holds grayscale or small images."""
    folder = Path(source)
    if not folder.is_dir():
        return None
    colour, sizes = 0, []
    sample = sample_images(folder)
    for path in sample:
        try:
            with open(path, "rb") as f:
                img = open_image_header(f.read(), path)
        except Exception:  # noqa: BLE001 - an unreadable file is reported by the data stage, not here
            continue
        colour += img.mode not in GRAY_MODES
        sizes.append(img.size)
    if not sizes or colour * 2 <= len(sizes):
        return None
    small = sum(min(w, h) <= MIN_PHOTO_SIDE for w, h in sizes)
    if small * 2 >= len(sizes):
        return None
    w, h = sorted(sizes)[len(sizes) // 2]
    return f"RGB photos of about {w}×{h} px"


def training_images(folder: Path, per_class: int | None = None, train_share: float = 0.8) -> int:
    """How many training images a folder holds: its train/ split, else its share of all, at
    most `per_class` per class folder (a listing, no decoding)."""
    train = next((folder / n for n in ("train", "training") if (folder / n).is_dir()), None)
    base = train if train is not None else folder
    share = 1.0 if train is not None else train_share
    total = 0
    for d in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        n = int(share * sum(is_image_file(f) for _, _, names in os.walk(d, followlinks=False) for f in names))
        total += min(n, per_class) if per_class else n
    return total


def finetune_epochs(n_train: int, batch_size: int = 32) -> int:
    """Epochs of the fine-tuning phase: enough for about 60 steps, between 3 and 10."""
    return min(10, max(3, math.ceil(MIN_FINETUNE_STEPS * batch_size / max(1, n_train))))


def finetune_defaults(settings: dict[str, Any], n_train: int | None = None, photos: bool = False) -> dict[str, Any]:
    """FINETUNE_DEFAULTS (and the model's unfreeze depth, the phase lengths, and for photos the
    'photo' augmentation: random resized crop 0.35–1 + flip) under `settings`."""
    chosen = dict(FINETUNE_DEFAULTS)
    if photos:
        chosen["augment"] = "photo"
    # no --model: the transfer default (Lite0), unless the weights come from a run or a file
    model = settings.get("model") or (PHOTO_MODEL if settings.get("weights") in (None, "imagenet") else None)
    if model in MODEL_UNFREEZE:
        chosen["unfreeze"] = MODEL_UNFREEZE[model]
    if "epochs" not in settings and "head_epochs" not in settings:
        tune = finetune_epochs(n_train, settings.get("batch_size", 32)) if n_train else 3
        chosen.update(head_epochs=HEAD_EPOCHS, epochs=HEAD_EPOCHS + tune)
    return {**chosen, **settings}


def chosen_defaults(settings: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The settings of a `cnnlab train` without --config, with the defaults chosen for its data
    and transfer mode filled in where the user gave none; and one line saying what was chosen
    and why (None when nothing was)."""
    user_chose_model = any(k in settings for k in ("model", "transfer", "weights"))
    source = settings.get("data")
    reason = None if user_chose_model or not isinstance(source, (str, Path)) else photo_folder_reason(str(source))
    if reason is not None:
        n_train = training_images(Path(source), settings.get("per_class"))
        photo = {"model": PHOTO_MODEL, "weights": "imagenet", "transfer": "finetune", "image_size": (224, 224),
                 "resize": "crop", "batch_size": 32, **settings}
        chosen = finetune_defaults(photo, n_train, photos=True)
        note = (f"no --model given and {source} holds {reason}: training {PHOTO_MODEL} from its ImageNet weights "
                f"by transfer at 224 px — a head on cached features ({chosen.get('head_epochs', 0) or 'half the'} "
                f"epochs), then the top {chosen.get('unfreeze', 'all')} blocks fine-tuned with the "
                f"'{chosen['augment']}' augmentation (BatchNorm frozen, AdamW, warm-up + cosine); "
                "--model or --transfer overrides this")
        return chosen, note
    if settings.get("transfer") == "finetune":
        folder = isinstance(source, (str, Path)) and photo_folder_reason(str(source)) is not None
        chosen = finetune_defaults(settings, training_images(Path(source), settings.get("per_class")) if folder else None, photos=folder)
        added = sorted(k for k in chosen if k not in settings)
        if added:
            return chosen, ("fine-tuning defaults: " + ", ".join(f"{k} {_text(chosen[k])}" for k in added)
                            + " (give any of them to change it)")
    return settings, None


def _text(value: Any) -> str:
    return "x".join(map(str, value)) if isinstance(value, tuple) else str(value)
