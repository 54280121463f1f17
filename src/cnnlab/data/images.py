"""Reading image files safely: any mode in, uint8 C×H×W out, with clear errors for bad files.

Decoding goes through PIL, which reads every format and mode we meet (palette, CMYK, 16-bit,
alpha, EXIF rotation) and raises on truncated data instead of returning half an image.

Only the formats cnnlab supports are tried (PIL's `formats=`): PIL ships ~40 decoders, and the
rare ones crash on mutated files with exceptions nobody expects (a DDS raised
NotImplementedError, a SPIDER file AttributeError; issue 19). Any failure of a decoder, whatever
its type, becomes an `ImageLoadError` naming the file, so the caller can skip it with the reason.
A caller that knows the size it needs (`min_size`) gets the image decoded at reduced size: JPEG
through the decoder's DCT scaling (`draft`), other formats reduced right after decoding, so a
9,000×9,000 upload costs one decoded copy rather than several full-size conversions.
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

# The PIL decoders tried, matching IMAGE_EXTENSIONS. (Phones' MPO files are opened by the JPEG
# decoder, which names them "MPO".)
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")

# Modes Image.reduce() accepts directly (others are converted to 8 bits first).
_REDUCIBLE_MODES = frozenset({"L", "LA", "RGB", "RGBA", "CMYK", "YCbCr", "I", "F"})

# Modes that hold one grey channel (after conversion) rather than colour.
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


def is_image_file(path: str | Path) -> bool:
    """True when the file name has an image extension and is not hidden."""
    p = Path(path)
    return p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


class UnknownImageFormat(ImageLoadError):
    """The bytes are not one of IMAGE_FORMATS (an upload answers 415 rather than 400)."""


def open_image_header(data: bytes, path: str | Path, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Open image bytes lazily (header only) and refuse empty, unreadable, unsupported or
    bomb-sized files."""
    if not data:
        raise ImageLoadError(path, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    except Image.DecompressionBombError:
        raise ImageLoadError(path, f"declared size is over the limit of {max_pixels:,} pixels "
                                   "(a decompression bomb?); resize the image or raise max_pixels") from None
    except UnidentifiedImageError:
        raise UnknownImageFormat(path, f"not a readable image (not {', '.join(IMAGE_FORMATS)}; the file starts "
                                       f"with {data[:8]!r})") from None
    except Exception as e:  # noqa: BLE001 - a decoder plugin's header parser may raise anything (issue 19)
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


def reduction_factor(size: tuple[int, int], min_side: int) -> int:
    """The largest integer factor that keeps both sides of `size` (w, h) at least `min_side`."""
    return max(1, min(size) // max(1, min_side))


def decode_image(data: bytes, path: str | Path = "<bytes>", channels: int | None = None,
                 max_pixels: int = MAX_IMAGE_PIXELS, min_side: int | None = None) -> Image.Image:
    """Decode image bytes fully into an 8-bit "L" (1 channel) or "RGB" (3 channels) PIL image.

    `channels=None` keeps grey images grey and turns everything else into RGB. EXIF rotation is
    applied; alpha is dropped (as torchvision's ImageFolder does); palette, CMYK and 16-bit
    images are converted. `min_side` lets the decoder return the image smaller, by an integer
    factor, as long as both sides stay at least `min_side` (the caller resizes it further).
    Raises `ImageLoadError` naming the file and the reason, whatever the decoder raised.
    """
    img = open_image_header(data, path, max_pixels)
    full_w, full_h = img.size
    try:
        if min_side is not None and img.format in ("JPEG", "MPO") and reduction_factor(img.size, min_side) >= 2:
            # DCT scaling by 1/2, 1/4 or 1/8 while decoding: never smaller than the size asked for.
            w, h = img.size
            factor = reduction_factor(img.size, min_side)
            img.draft(img.mode, (w // factor, h // factor))
        img.load()  # full decode: truncated data raises here rather than yielding a partial image
        if min_side is not None and reduction_factor(img.size, min_side) >= 2:
            if img.mode not in _REDUCIBLE_MODES:
                img = _to_8bit(img)
                img = img.convert("RGBA" if img.mode == "P" and "transparency" in img.info else
                                  "L" if img.mode in GRAY_MODES else "RGB")
            img = img.reduce(reduction_factor(img.size, min_side))
        before = img.size
        img = ImageOps.exif_transpose(img)
        if img.size != before:  # rotated by 90°: the sides of the full image swap too
            full_w, full_h = full_h, full_w
        img = _to_8bit(img)
        if channels is None:
            channels = 1 if img.mode in GRAY_MODES else 3
        if channels not in (1, 3):
            raise ImageLoadError(path, f"channels must be 1 or 3, got {channels}")
        if img.mode == "P" and "transparency" in img.info:
            img = img.convert("RGBA")  # palette transparency needs RGBA first, or PIL warns
        img = img.convert("L" if channels == 1 else "RGB")
        img.info["full_size"] = (full_w, full_h)  # (w, h) before any reduction, after EXIF rotation
        return img
    except ImageLoadError:
        raise
    except MemoryError:
        raise ImageLoadError(path, "not enough memory to decode this image; resize it or lower max_pixels") from None
    except Exception as e:  # noqa: BLE001 - decoders raise NotImplementedError, AttributeError, struct.error...
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
               max_pixels: int = MAX_IMAGE_PIXELS, min_side: int | None = None) -> torch.Tensor:
    """Read an image file as a uint8 tensor C×H×W (1 or 3 channels); `ImageLoadError` if unreadable.
    `min_side`: see `decode_image`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ImageLoadError(path, f"cannot read file ({e.strerror or e})") from None
    return pil_to_tensor(decode_image(data, path, channels, max_pixels, min_side))
