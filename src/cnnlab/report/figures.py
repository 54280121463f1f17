"""Pictures of the report: PNG bytes made with matplotlib (Agg), embedded as data URIs."""

from __future__ import annotations

import base64
import io
import math
from typing import Sequence

import numpy as np


def data_uri(png: bytes, mime: str = "image/png") -> str:
    """PNG bytes as a `data:` URI, so the report is one file that opens offline."""
    return f"data:{mime};base64,{base64.b64encode(png).decode('ascii')}"


def prediction_grid(images: np.ndarray, true: Sequence[str], predicted: Sequence[str],
                    confidence: Sequence[float], columns: int = 8) -> bytes:
    """A grid of images (uint8 N×C×H×W) titled 'pred (p%)', green when right and red when wrong."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(images)
    columns = min(columns, max(n, 1))
    rows = max(1, math.ceil(n / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.45 * columns, 1.65 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, t, p, c in zip(axes.flat, images, true, predicted, confidence):
        arr = np.transpose(img, (1, 2, 0))
        ax.imshow(arr[:, :, 0] if arr.shape[2] == 1 else arr, cmap="gray", vmin=0, vmax=255,
                  interpolation="nearest")
        ok = t == p
        ax.set_title(f"{p} ({100 * c:.0f}%)" + ("" if ok else f"\ntrue {t}"), fontsize=8,
                     color="#1b7f3b" if ok else "#b3261e")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()
