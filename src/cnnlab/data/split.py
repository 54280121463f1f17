"""Build a small train/validation/test copy of a big image folder, as the Keras book builds its
2,000-image dogs-vs-cats set from Kaggle's 25,000.

Labels come from class sub-folders (SRC/cat/x.jpg) or from file-name prefixes (SRC/cat.12.jpg).
Each split gets a fixed count per class, or (`ratio`) a share of each class with the rule of
`cnnlab.data.stratify`: every class in every split. The copy is deterministic for a seed and
never writes outside the destination.
"""

from __future__ import annotations

import random
import re
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Sequence

from cnnlab.data.images import is_image_file
from cnnlab.data.stratify import short_classes_error, split_counts
from cnnlab.errors import ConfigError, DataError

# A class name becomes a folder name: letters, digits, space, dot, dash, underscore, plus; no
# path separators, no leading dot (so neither ".." nor "a/b" can escape the destination).
SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9 _.+-]*$")
PREFIX = re.compile(r"^([A-Za-z0-9]+)[._-]")
# The Keras book's dogs-vs-cats set: 1,000 training, 500 validation and 500 test images per class.
KERAS_BOOK_PER_CLASS = (1000, 500, 500)


def _safe(name: str, what: str, source: Path) -> str:
    if not SAFE_NAME.match(name) or ".." in name:
        raise DataError(f"{source}: {what} {name!r} is not a safe folder/file name (expected letters, digits, "
                        "'_', '-', '.', no path separators or leading dot); rename it")
    return name


def collect_labelled_files(src: str | Path) -> dict[str, list[Path]]:
    """Image files per class: from class sub-folders if SRC has any, else from file-name prefixes."""
    src = Path(src)
    if not src.is_dir():
        raise DataError(f"{src}: no such folder")
    by_class: dict[str, list[Path]] = defaultdict(list)
    subdirs = sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith("."))
    if subdirs:
        for d in subdirs:
            for p in sorted(d.rglob("*")):
                if p.is_file() and is_image_file(p):
                    by_class[_safe(d.name, "class folder", src)].append(p)
    else:
        for p in sorted(src.iterdir()):
            if p.is_file() and is_image_file(p):
                m = PREFIX.match(p.name)
                if m:
                    by_class[_safe(m.group(1).lower(), "class prefix", p)].append(p)
    if not by_class:
        raise DataError(f"{src}: no labelled images found (expected class sub-folders, or files named "
                        "like cat.12.jpg whose prefix is the class)")
    return dict(by_class)


def split_folder(src: str | Path, dst: str | Path, per_class: Sequence[int] = KERAS_BOOK_PER_CLASS,
                 split_names: Sequence[str] = ("train", "validation", "test"), seed: int = 0,
                 classes: Sequence[str] | None = None, ratio: Sequence[float] | None = None
                 ) -> dict[str, dict[str, int]]:
    """Copy images per class into DST/<split>/<class>/: `per_class` counts, or a `ratio` of each class.

    per_class: images per class for each split name (the default is the Keras book's set).
    ratio: instead of `per_class`, each class's share per split, e.g. 0.8, 0.1, 0.1: stratified with the same rule
    as training's ratio split (largest remainders, at least one image of every class in each
    split with a positive share). A class too small for either is refused, naming it and its
    count, before anything is written.
    Returns the number of images written per split and class. Refuses a non-empty destination.
    """
    src, dst = Path(src), Path(dst)
    if ratio is not None and tuple(per_class) != KERAS_BOOK_PER_CLASS:
        raise ConfigError("per_class and ratio: give one of them (counts per class, or shares of each class)")
    if ratio is not None:
        ratio = [float(r) for r in ratio]
        if (len(ratio) != len(split_names) or any(not r >= 0 for r in ratio) or ratio[0] <= 0
                or abs(sum(ratio) - 1) > 1e-6):
            raise ConfigError(f"ratio: {ratio} (expected {len(split_names)} non-negative shares for "
                              f"{', '.join(split_names)} summing to 1, the first > 0)")
    else:
        per_class = [int(n) for n in per_class]
        if len(per_class) != len(split_names) or any(n < 0 for n in per_class):
            raise ConfigError(f"per_class: {per_class} (expected {len(split_names)} non-negative counts "
                              f"for {', '.join(split_names)})")
    for n in split_names:
        _safe(n, "split name", dst)
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise DataError(f"{dst}: destination is not empty; choose a new folder (nothing was written)")
    by_class = collect_labelled_files(src)
    if classes is not None:
        missing = [c for c in classes if c not in by_class]
        if missing:
            raise DataError(f"{src}: class(es) {missing} not found (found {sorted(by_class)})")
        by_class = {c: by_class[c] for c in classes}
    if ratio is not None:
        need = sum(1 for r in ratio if r > 0)
        short = {str(src / c): len(f) for c, f in sorted(by_class.items()) if len(f) < need}
        if short:
            raise short_classes_error(short, ratio, split_names)
        counts_of = {c: split_counts(len(f), ratio) for c, f in by_class.items()}
    else:
        need = sum(per_class)
        short = {c: len(f) for c, f in by_class.items() if len(f) < need}
        if short:
            raise DataError(f"{src}: not enough images for {','.join(map(str, per_class))} per class: "
                            + ", ".join(f"{c} has {n}" for c, n in sorted(short.items())) + f" (need {need})")
        counts_of = {c: list(per_class) for c in by_class}
    rng = random.Random(seed)
    plan: list[tuple[Path, Path]] = []
    counts: dict[str, dict[str, int]] = {s: {} for s in split_names}
    root = dst.resolve()
    for cls in sorted(by_class):
        files = list(by_class[cls])
        rng.shuffle(files)
        start = 0
        for split, n in zip(split_names, counts_of[cls]):
            for p in files[start:start + n]:
                target = (dst / split / cls / p.name).resolve()
                if root not in target.parents:
                    raise DataError(f"{p}: would be written outside {dst}; rename it")
                plan.append((p, target))
            counts[split][cls] = n
            start += n
    for src_file, target in plan:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src_file, target)
    return counts
