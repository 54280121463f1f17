"""Pictures of the report: PNG bytes made with matplotlib (Agg), embedded as data URIs."""

from __future__ import annotations

import base64
from typing import Sequence

import numpy as np


def data_uri(png: bytes, mime: str = "image/png") -> str:
    """PNG bytes as a `data:` URI, so the report is one file that opens offline."""
    return f"data:{mime};base64,{base64.b64encode(png).decode('ascii')}"


def prediction_grid(images: np.ndarray, true: Sequence[str], predicted: Sequence[str],
                    confidence: Sequence[float], columns: int = 8) -> bytes:
    """A grid of images (uint8 N×C×H×W) titled 'pred (p%)', green when right and red when wrong
    (evaluation's gallery, with the report's captions)."""
    from cnnlab.evaluate.plots import gallery_png

    wrong = [t != p for t, p in zip(true, predicted)]
    captions = [f"{p} ({100 * c:.0f}%)" + (f"\ntrue {t}" if w else "")
                for t, p, c, w in zip(true, predicted, confidence, wrong)]
    return gallery_png(images, captions, "", columns=columns, wrong=wrong)
