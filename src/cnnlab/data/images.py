"""Reading image files safely: any mode in, uint8 C×H×W out, with clear errors for bad files.

Decoding goes through PIL, which reads every format and mode we meet (palette, CMYK, 16-bit,
alpha, EXIF rotation) and raises on truncated data instead of returning half an image.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from cnnlab.errors import ImageLoadError
from cnnlab.settings import MAX_IMAGE_PIXELS  # the default of the `max_pixels` setting

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})

# Modes that hold one grey channel (after conversion) rather than colour.
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


def is_image_file(path: str | Path) -> bool:
    """True when the file name has an image extension and is not hidden."""
    p = Path(path)
    return p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


def open_image_header(data: bytes, path: str | Path, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Open image bytes lazily (header only) and refuse empty, unreadable or bomb-sized files."""
    if not data:
        raise ImageLoadError(path, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise ImageLoadError(path, f"declared size is over the limit of {max_pixels:,} pixels "
                                   "(a decompression bomb?); resize the image or raise max_pixels") from None
    except UnidentifiedImageError:
        raise ImageLoadError(path, f"not a readable image (unknown format; the file starts with {data[:8]!r})") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageLoadError(path, f"not a readable image ({type(e).__name__}: {e})") from None
    w, h = img.size
    if w * h > max_pixels:
        raise ImageLoadError(path, f"declared size {w}×{h} = {w * h:,} pixels is over the limit of "
                                   f"{max_pixels:,} (a decompression bomb?); resize the image or raise max_pixels")
    if w < 1 or h < 1:
        raise ImageLoadError(path, f"image has no pixels ({w}×{h})")
    return img


def _to_8bit(img: Image.Image) -> Image.Image:
    """16-bit and float grey images are scaled to 8 bits by their dtype range, not clipped."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        top = 1.0 if arr.max() <= 1.0 else 255.0
        return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    return img


def decode_image(data: bytes, path: str | Path = "<bytes>", channels: int | None = None,
                 max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Decode image bytes fully into an 8-bit "L" (1 channel) or "RGB" (3 channels) PIL image.

    `channels=None` keeps grey images grey and turns everything else into RGB. EXIF rotation is
    applied; alpha is dropped (as torchvision's ImageFolder does); palette, CMYK and 16-bit
    images are converted. Raises `ImageLoadError` naming the file and the reason.
    """
    img = open_image_header(data, path, max_pixels)
    try:
        img.load()  # full decode: truncated data raises here rather than yielding a partial image
        img = ImageOps.exif_transpose(img)
        img = _to_8bit(img)
        if channels is None:
            channels = 1 if img.mode in GRAY_MODES else 3
        if channels not in (1, 3):
            raise ImageLoadError(path, f"channels must be 1 or 3, got {channels}")
        if img.mode == "P" and "transparency" in img.info:
            img = img.convert("RGBA")  # palette transparency needs RGBA first, or PIL warns
        return img.convert("L" if channels == 1 else "RGB")
    except ImageLoadError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as e:
        raise ImageLoadError(path, f"corrupt or truncated image ({type(e).__name__}: {e})") from None


def image_channels(img: Image.Image) -> int:
    """1 for grey modes, 3 otherwise (what `decode_image(channels=None)` would produce)."""
    return 1 if img.mode in GRAY_MODES else 3


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """An "L" or "RGB" PIL image as a uint8 tensor C×H×W."""
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


def read_image(path: str | Path, channels: int | None = None,
               max_pixels: int = MAX_IMAGE_PIXELS) -> torch.Tensor:
    """Read an image file as a uint8 tensor C×H×W (1 or 3 channels); `ImageLoadError` if unreadable."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ImageLoadError(path, f"cannot read file ({e.strerror or e})") from None
    return pil_to_tensor(decode_image(data, path, channels, max_pixels))
