"""Uploaded image bytes → a uint8 C×H×W tensor, with the HTTP status that fits each failure.

The client's declared content type is ignored (browsers send `application/octet-stream` for
many files): the bytes are sniffed by PIL. A file PIL cannot identify is not an image (415);
one it identifies but cannot decode is a corrupt image (400); one over the size limit is 413.
"""

from __future__ import annotations

import io
import warnings

import torch
from PIL import Image, UnidentifiedImageError

from cnnlab.data.images import decode_image, pil_to_tensor
from cnnlab.errors import CnnlabError, ImageLoadError


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


def decode_upload(data: bytes, filename: str, channels: int) -> torch.Tensor:
    """Decode an upload as training data is decoded (any mode → `channels`), or raise UploadError."""
    if not data:
        raise UploadError(400, f"{filename}: empty file (0 bytes); pick an image file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            Image.open(io.BytesIO(data))  # header only: is this an image format at all?
    except UnidentifiedImageError:
        raise UploadError(415, f"{filename}: not an image (the file starts with {data[:8]!r}); "
                               "expected PNG, JPEG, GIF, BMP, TIFF or WebP") from None
    except Exception:  # noqa: BLE001 - PIL raises many types for broken headers; decode_image names it
        pass
    try:
        return pil_to_tensor(decode_image(data, filename, channels))
    except ImageLoadError as e:
        raise UploadError(400, f"{filename}: corrupt or unreadable image ({e.reason})") from None
