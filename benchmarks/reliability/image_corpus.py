"""Image files made on the fly: good images of every mode, and a corpus of bad ones (truncated,
empty, mislabelled, a decompression bomb by its header, odd modes, EXIF rotation) that the data
layer, `cnnlab predict`, the web app and the reliability matrix are tested against."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def save_image(path: Path, array: np.ndarray, fmt: str | None = None, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt, **kw)
    return path


def blob_image(size: int, seed: int, bright: bool, channels: int = 3) -> np.ndarray:
    """A random image whose class shows in its brightness (bright vs dark)."""
    rng = np.random.default_rng(seed)
    base = 170 if bright else 60
    arr = np.clip(rng.normal(base, 30, (size, size, channels)), 0, 255).astype(np.uint8)
    return arr[:, :, 0] if channels == 1 else arr


def make_class_folder(root: Path, classes=("cats", "dogs"), per_class: int = 12, size: int = 16,
                      ext: str = ".png", channels: int = 3) -> Path:
    for ci, c in enumerate(classes):
        for i in range(per_class):
            save_image(root / c / f"{c}.{i}{ext}", blob_image(size, ci * 1000 + i, bright=ci % 2 == 1, channels=channels))
    return root


def png_with_declared_size(width: int, height: int) -> bytes:
    """A 1×1 PNG whose header claims width×height: a decompression bomb by its header."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr:ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


def jpeg_bytes(size: int = 32, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(blob_image(size, seed, True)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def exif_rotated_jpeg() -> bytes:
    """A 20 wide × 10 high JPEG whose EXIF orientation (6) says: rotate 90° to display."""
    arr = np.zeros((10, 20, 3), np.uint8)
    arr[:, :10] = 255  # left half white
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    return buf.getvalue()


def write_bad_images(folder: Path) -> dict[str, str]:
    """Write one file per bad case; returns {file name: expected outcome ("skip" or "load")}."""
    folder.mkdir(parents=True, exist_ok=True)
    good_png = io.BytesIO()
    Image.fromarray(blob_image(16, 1, True)).save(good_png, "PNG")
    jpg = jpeg_bytes()
    cases: dict[str, tuple[bytes, str]] = {
        "truncated.jpg": (jpg[: len(jpg) // 2], "skip"),
        "truncated.png": (good_png.getvalue()[:60], "skip"),
        "zero.png": (b"", "skip"),
        "text.jpg": (b"this is not an image, just text\n" * 4, "skip"),
        "bomb.png": (png_with_declared_size(20000, 20000), "skip"),
        "notes.txt": (b"hello", "skip"),
        "png_named.jpg": (good_png.getvalue(), "load"),  # wrong extension: decoded by content
        "exif.jpg": (exif_rotated_jpeg(), "load"),
    }
    for name, (data, _) in cases.items():
        (folder / name).write_bytes(data)
    modes = {
        "palette.png": Image.fromarray(blob_image(16, 2, True)).convert("P"),
        "rgba.png": Image.fromarray(blob_image(16, 3, True)).convert("RGBA"),
        "cmyk.jpg": Image.fromarray(blob_image(16, 4, True)).convert("CMYK"),
        "grey16.png": Image.fromarray(blob_image(16, 5, True, 1).astype(np.uint16) * 257),
        "one_pixel.png": Image.new("RGB", (1, 1), (200, 10, 10)),
        "la.png": Image.fromarray(blob_image(16, 6, True, 1)).convert("LA"),
    }
    for name, img in modes.items():
        img.save(folder / name)
        cases[name] = (b"", "load")
    return {name: outcome for name, (_, outcome) in cases.items()}
