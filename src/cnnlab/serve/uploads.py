"""Uploaded image bytes → a uint8 C×H×W tensor, with the HTTP status that fits each failure.

The client's declared content type is ignored (browsers send `application/octet-stream` for
many files): the bytes are sniffed by PIL, among the formats cnnlab supports. A file that is
none of them is not an image (415); one PIL identifies but cannot decode, whatever its decoder
raised, is a corrupt image (400); one over the size limit is 413.

Large images are decoded at reduced size (`min_side`): the model resizes them to its input
anyway, so memory per request is bounded by the model's input rather than by the upload
(a 9,400×9,400 PNG cost 0.5 GB and 14 s per /predict before; issue 19 item 7). PIL cannot
decode a PNG at reduced size, so a large PNG still passes through memory once, at 4 bytes a
pixel (324 MB for 9,000×9,000): large images are decoded one at a time in the process, and the
freed buffers are handed back to the system afterwards (glibc keeps them in the decoding
thread's arena otherwise; the server stayed at 2.1–2.6 GB after the uploads in the issue).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import threading

import torch

from cnnlab.data.images import UnknownImageFormat, decode_image, open_image_header, pil_to_tensor
from cnnlab.errors import CnnlabError, ImageLoadError


# Images above this many pixels (64 MB decoded) are decoded one at a time; smaller ones in parallel.
LARGE_IMAGE_PIXELS = 4096 * 4096
_large_decode = threading.Lock()


def _declared_pixels(data: bytes, filename: str) -> int:
    """Pixels the image's header declares (0 when there is no valid header: decoding reports it)."""
    try:
        with open_image_header(data, filename) as img:
            return img.width * img.height
    except ImageLoadError:
        return 0


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc
        return None


def release_free_memory() -> None:
    """Hand freed heap memory back to the system (glibc's malloc_trim; a no-op elsewhere)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class UploadError(CnnlabError):
    """An upload the app refuses; `status` is the HTTP status code to answer with."""

    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(message)


def check_size(data: bytes, filename: str, max_bytes: int) -> None:
    """413 when the upload is larger than `max_bytes`."""
    if len(data) > max_bytes:
        raise UploadError(413, f"{filename}: {len(data) / 1e6:.1f} MB is over the upload limit of "
                               f"{max_bytes / 1e6:g} MB (start the server with a larger --max-upload-mb)")


def decode_upload(data: bytes, filename: str, channels: int,
                  min_side: int | None = None) -> tuple[torch.Tensor, tuple[int, int]]:
    """Decode an upload as training data is decoded (any mode → `channels`), or raise UploadError.

    Returns the image (reduced by an integer factor while both sides stay ≥ `min_side`) and the
    upload's own size as (height, width).
    """
    if not data:
        raise UploadError(400, f"{filename}: empty file (0 bytes); pick an image file")
    large = _declared_pixels(data, filename) > LARGE_IMAGE_PIXELS
    try:
        with _large_decode if large else contextlib.nullcontext():
            try:
                img = decode_image(data, filename, channels, min_side=min_side)
            finally:
                if large:
                    release_free_memory()
    except UnknownImageFormat:
        raise UploadError(415, f"{filename}: not an image (the file starts with {data[:8]!r}); "
                               "expected PNG, JPEG, GIF, BMP, TIFF or WebP") from None
    except ImageLoadError as e:
        raise UploadError(400, f"{filename}: corrupt or unreadable image ({e.reason})") from None
    w, h = img.info["full_size"]
    return pil_to_tensor(img), (h, w)
