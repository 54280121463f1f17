"""Image folders: find the classes and splits, scan every file before training, and load the
images (into memory when they fit).

Two layouts are understood:
  root/train/<class>/*, root/val|validation|valid/<class>/*, root/test/<class>/*  (pre-split)
  root/<class>/*                                                               (split by ratio)

The scan decodes every file once, so corrupt, truncated, zero-byte and non-image files are
listed with their reason and skipped before any training starts, instead of failing mid-epoch.
Only regular files are read (a FIFO named photo.png would hang the scan, a link to /dev/zero
would read until memory runs out), and every read is capped: the header check reads the first
1 MB, a full decode at most 64 MB.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch

from cnnlab.data.images import IMAGE_EXTENSIONS, MAX_IMAGE_PIXELS, decode_image, image_channels, open_image_header, pil_to_tensor
from cnnlab.data.transforms import resize_uint8
from cnnlab.errors import DataError, ImageLoadError
from cnnlab.regular_files import FileRefused, is_regular_file, read_regular_file

# The header of every format cnnlab reads sits in the first 1 MB (a JPEG's EXIF block is at most
# 64 KB); a TIFF may keep its directory at the end, so a header not found there is looked for in
# the whole file. 64 MB holds any photo under the pixel cap in a compressed format.
HEADER_BYTES = 1 << 20
MAX_IMAGE_FILE_BYTES = 64 << 20

SPLIT_FOLDER_NAMES = {"train": ("train",), "val": ("val", "validation", "valid"), "test": ("test",)}


@dataclass
class SkippedFile:
    """A file left out of the data set, and why."""

    path: str
    reason: str


@dataclass
class FolderScan:
    """What a folder holds: per split, (file, class index) pairs that passed the header check."""

    root: Path
    presplit: bool
    class_names: list[str]
    files: dict[str, list[tuple[Path, int]]]  # split name ("train", "val", "test" or "all") → files
    sizes: dict[Path, tuple[int, int]] = field(default_factory=dict)  # original (H, W)
    grey: dict[Path, bool] = field(default_factory=dict)
    skipped: list[SkippedFile] = field(default_factory=list)


def _split_dirs(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    children = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    for split, names in SPLIT_FOLDER_NAMES.items():
        for n in names:
            if n in children:
                found[split] = children[n]
                break
    return found


def _class_dirs(folder: Path, root: Path) -> list[Path]:
    """The class folders of `folder`; a linked class folder must not lead back up to `root` (or
    one of its parents), or into another class folder: that would give one class the images of
    the others, with conflicting labels."""
    classes = sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)
    real = {p: p.resolve() for p in classes}
    top, here = root.resolve(), folder.resolve()
    for p in classes:
        if not p.is_symlink():
            continue
        target = real[p]
        if target in (top, here) or target in top.parents:
            raise DataError(f"{p}: a link to {target}, which holds the other class folders; a class folder must "
                            "hold its own images (remove the link, or replace it with a folder of images)")
        for other in classes:
            if other != p and (real[other] == target or target in real[other].parents or real[other] in target.parents):
                raise DataError(f"{p}: a link to {target}, which overlaps the class folder {other}; each image "
                                "must belong to one class (remove the link)")
    return classes


def _list_class_files(class_dir: Path, skipped: list[SkippedFile]) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(class_dir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if name.startswith("."):
                skipped.append(SkippedFile(str(p), "hidden file"))
            elif p.suffix.lower() not in IMAGE_EXTENSIONS:
                skipped.append(SkippedFile(str(p), f"not an image file (extension {p.suffix or 'none'!r}; "
                                                   f"expected one of {', '.join(sorted(IMAGE_EXTENSIONS))})"))
            elif not is_regular_file(p):
                skipped.append(SkippedFile(str(p), "not a regular file (a FIFO, device, socket or broken link); "
                                                   "only regular files are read"))
            else:
                files.append(p)
    return files


def _exif_orientation(img) -> int | None:
    """The EXIF orientation tag, or None when absent or unreadable (decoding reports bad files)."""
    try:
        return img.getexif().get(0x0112)
    except Exception:  # PIL raises OSError, struct.error, SyntaxError... on damaged EXIF blocks
        return None


def read_image_file(path: Path, max_bytes: int = MAX_IMAGE_FILE_BYTES, prefix: bool = False) -> bytes:
    """The bytes of one image file (regular files only, at most `max_bytes`)."""
    try:
        return read_regular_file(path, max_bytes, "image file", prefix=prefix)
    except FileRefused as e:
        raise ImageLoadError(path, e.reason) from None


def _header(path: Path, max_pixels: int) -> tuple[tuple[int, int], bool]:
    data = read_image_file(path, HEADER_BYTES, prefix=True)
    try:
        img = open_image_header(data, path, max_pixels)
    except ImageLoadError:
        if len(data) < HEADER_BYTES:
            raise
        img = open_image_header(read_image_file(path), path, max_pixels)  # a header far into the file (TIFF)
    with img:
        w, h = img.size
        if _exif_orientation(img) in (5, 6, 7, 8):  # EXIF turns it by 90°: it decodes as h × w
            w, h = h, w
        return (h, w), image_channels(img) == 1


def scan_folder(root: str | Path, max_pixels: int = MAX_IMAGE_PIXELS, workers: int = 8) -> FolderScan:
    """List the classes and image files of a folder and check every file's header.

    Raises `DataError` before any training when a class folder is empty, there is only one
    class, or a split lacks a class that another split has.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder (expected a folder of class sub-folders, "
                        "or train/ val/ test/ folders each holding class sub-folders)")
    skipped: list[SkippedFile] = []
    split_dirs = _split_dirs(root)
    presplit = "train" in split_dirs
    parts = split_dirs if presplit else {"all": root}
    if presplit:
        for p in sorted(root.iterdir()):
            if p.is_file():
                skipped.append(SkippedFile(str(p), "not inside a split folder (train/, val/, test/)"))
    per_split: dict[str, dict[str, list[Path]]] = {}
    for split, folder in parts.items():
        classes = _class_dirs(folder, root)
        for p in sorted(folder.iterdir()):
            if p.is_file():
                skipped.append(SkippedFile(str(p), "not inside a class folder"))
        per_split[split] = {c.name: _list_class_files(c, skipped) for c in classes}

    first = "train" if presplit else "all"
    class_names = sorted(per_split[first])
    if not class_names:
        raise DataError(f"{parts[first]}: no class folders found (expected one sub-folder per class, "
                        "e.g. cats/ and dogs/ holding .jpg/.png files)")

    # Header check (cheap): zero bytes, not an image, bomb-sized; in threads, PIL releases the GIL.
    all_files = [p for classes in per_split.values() for files in classes.values() for p in files]
    sizes: dict[Path, tuple[int, int]] = {}
    grey: dict[Path, bool] = {}

    def check(p: Path):
        try:
            return p, _header(p, max_pixels), None
        except ImageLoadError as e:
            return p, None, e.reason

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for p, header, reason in pool.map(check, all_files):
            if reason is not None:
                skipped.append(SkippedFile(str(p), reason))
            else:
                sizes[p], grey[p] = header

    files: dict[str, list[tuple[Path, int]]] = {}
    for split, classes in per_split.items():
        where = parts[split]
        extra = sorted(set(classes) - set(class_names))
        if extra:
            raise DataError(f"{where}: class folder(s) {extra} are not in {parts[first]} "
                            f"(classes there: {class_names}); every split needs the same classes")
        missing = sorted(set(class_names) - set(classes))
        if missing:
            raise DataError(f"{where}: split '{split}' has no folder for class(es) {missing} "
                            f"(found in {parts[first]}); add them or remove the class everywhere")
        files[split] = []
        for ci, name in enumerate(class_names):
            good = [p for p in classes[name] if p in sizes]
            if not good:
                n_bad = len(classes[name])
                detail = f" ({n_bad} file(s) skipped as unreadable)" if n_bad else ""
                raise DataError(f"{where / name}: 0 images found{detail} (expected .jpg/.png files); "
                                "remove the folder or add images")
            files[split].extend((p, ci) for p in good)
    if len(class_names) < 2:
        raise DataError(f"{parts[first]}: only one class ({class_names[0]!r}) found; a classifier needs "
                        "at least two class folders")
    return FolderScan(root, presplit, class_names, files, sizes, grey, skipped)


def default_image_size(scan: FolderScan, fallback: int = 224) -> tuple[int, int]:
    """The size most files share, when at least 90 % share it; else `fallback` square."""
    counts = Counter(scan.sizes.values())
    if not counts:
        return (fallback, fallback)
    size, n = counts.most_common(1)[0]
    return size if n >= 0.9 * len(scan.sizes) else (fallback, fallback)


def default_channels(scan: FolderScan) -> int:
    """1 when every image is grey, else 3."""
    return 1 if scan.grey and all(scan.grey.values()) else 3


def decode_files(files: list[Path], channels: int, size: tuple[int, int], resize: str, keep: bool,
                 max_pixels: int = MAX_IMAGE_PIXELS, workers: int = 8
                 ) -> tuple[list[torch.Tensor | None], list[SkippedFile]]:
    """Decode every file fully (truncated data fails here); keep the resized uint8 tensors if asked.

    Returns one entry per file (None for a file that failed, or when `keep` is False) and the
    failures.
    """
    def one(p: Path):
        try:
            img = decode_image(read_image_file(p), p, channels, max_pixels)
            return (resize_uint8(pil_to_tensor(img), size, resize) if keep else True), None
        except ImageLoadError as e:
            return None, SkippedFile(str(p), e.reason)
        except OSError as e:
            return None, SkippedFile(str(p), f"cannot read file ({e.strerror or e})")

    # Torch ops inside worker threads would each spawn intra-op threads; one each is enough.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(one, files))
    finally:
        torch.set_num_threads(threads)
    out: list[torch.Tensor | None] = []
    skipped: list[SkippedFile] = []
    for value, skip in results:
        if skip is not None:
            skipped.append(skip)
            out.append(None)
        else:
            out.append(value if keep else None)
    return out, skipped
