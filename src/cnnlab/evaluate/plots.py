"""Figures of an evaluation: the confusion matrix and galleries of images with their labels.

Rendered with matplotlib's Agg backend (no display needed) straight to PNG bytes, which the
caller writes atomically.
"""

from __future__ import annotations

import io
import math
from typing import Sequence

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def confusion_matrix_png(confusion: np.ndarray, normalized: np.ndarray, class_names: Sequence[str],
                         title: str = "confusion matrix") -> bytes:
    """Two panels: counts and row-normalised shares, class names on both axes (rows = true)."""
    plt = _pyplot()
    n = len(class_names)
    side = min(max(4.0, 0.45 * n + 2), 14.0)
    fig, axes = plt.subplots(1, 2, figsize=(2 * side + 1, side))
    annotate = n <= 30  # beyond ~30 classes the numbers no longer fit in the cells
    for ax, values, label, fmt in ((axes[0], confusion, "counts", "d"),
                                   (axes[1], normalized, "share of the true class", ".2f")):
        im = ax.imshow(normalized, cmap="Blues", vmin=0, vmax=1)  # colour by share in both panels
        ax.set_title(f"{title} ({label})")
        ax.set_xticks(range(n), labels=class_names, rotation=90 if n > 10 else 0)
        ax.set_yticks(range(n), labels=class_names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        if annotate:
            for i in range(n):
                for j in range(n):
                    if values[i, j]:
                        ax.text(j, i, format(values[i, j], fmt), ha="center", va="center", fontsize=7,
                                color="white" if normalized[i, j] > 0.5 else "black")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return _png(fig)


def gallery_png(images: np.ndarray, captions: Sequence[str], title: str, columns: int = 8,
                wrong: Sequence[bool] | None = None) -> bytes:
    """A grid of uint8 images (N×C×H×W, C = 1 or 3) with a caption under each.

    `wrong` colours the caption red for a wrong prediction, green for a right one.
    """
    plt = _pyplot()
    n = len(images)
    columns = max(1, min(columns, n))
    rows = max(1, math.ceil(n / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.9 * columns, 2.2 * rows + 0.4), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        img = images[k]
        if img.shape[0] == 1:
            ax.imshow(img[0], cmap="gray", vmin=0, vmax=255)
        else:
            ax.imshow(np.transpose(img, (1, 2, 0)))
        color = None if wrong is None else ("tab:red" if wrong[k] else "tab:green")
        ax.set_title(captions[k], fontsize=7, color=color)
    if n == 0:
        axes.flat[0].text(0.5, 0.5, "none", ha="center", va="center")
    fig.suptitle(title)
    fig.tight_layout()
    return _png(fig)
