"""Images encoded in memory for the web-app tests."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def png_bytes(array: np.ndarray, fmt: str = "PNG") -> bytes:
    """An array (H×W grey, H×W×3 RGB, H×W×4 RGBA) encoded as image bytes."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt)
    return buf.getvalue()
