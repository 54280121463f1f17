"""Build a small train/validation/test copy of a big image folder, as the Keras book builds its
2,000-image dogs-vs-cats set from Kaggle's 25,000.

Labels come from class sub-folders (SRC/cat/x.jpg) or from file-name prefixes (SRC/cat.12.jpg).
The copy is deterministic for a seed and never writes outside the destination.
"""

from __future__ import annotations

import random
import re
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Sequence

from cnnlab.data.images import is_image_file
from cnnlab.errors import ConfigError, DataError

# A class name becomes a folder name: letters, digits, space, dot, dash, underscore, plus; no
# path separators, no leading dot (so neither ".." nor "a/b" can escape the destination).
SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9 _.+-]*$")
PREFIX = re.compile(r"^([A-Za-z0-9]+)[._-]")


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


def split_folder(src: str | Path, dst: str | Path, per_class: Sequence[int] = (1000, 500, 500),
                 split_names: Sequence[str] = ("train", "validation", "test"), seed: int = 0,
                 classes: Sequence[str] | None = None) -> dict[str, dict[str, int]]:
    """Copy `per_class` images per class into DST/<split>/<class>/, one count per split name.

    Returns the number of images written per split and class. Refuses a non-empty destination.
    """
    src, dst = Path(src), Path(dst)
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
    need = sum(per_class)
    short = {c: len(f) for c, f in by_class.items() if len(f) < need}
    if short:
        raise DataError(f"{src}: not enough images for {','.join(map(str, per_class))} per class: "
                        + ", ".join(f"{c} has {n}" for c, n in sorted(short.items())) + f" (need {need})")
    rng = random.Random(seed)
    plan: list[tuple[Path, Path]] = []
    counts: dict[str, dict[str, int]] = {s: {} for s in split_names}
    root = dst.resolve()
    for cls in sorted(by_class):
        files = list(by_class[cls])
        rng.shuffle(files)
        start = 0
        for split, n in zip(split_names, per_class):
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
