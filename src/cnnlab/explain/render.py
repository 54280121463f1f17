"""Figures for explanations: tile grids, heatmap overlays, PNG bytes.

Figures are built with matplotlib's object API (`Figure`, Agg canvas) rather than pyplot, so
rendering holds no global state and is safe in the web app's worker threads.
"""

from __future__ import annotations

import io
import math
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

HEATMAP_CMAP = "jet"  # the Keras book's and the Grad-CAM paper's colouring


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def to_png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def grid_shape(n: int) -> tuple[int, int]:
    """Rows × columns for n tiles, wider than tall: 32 → 4×8 and 64 → 8×8, as the PyTorch tutorial."""
    cols = 2 ** math.ceil(math.log2(math.sqrt(n))) if n > 1 else 1
    cols = min(cols, n)
    return math.ceil(n / cols), cols


def scale01(x: np.ndarray) -> np.ndarray:
    """Min-max scale to [0, 1] (a constant array becomes zeros)."""
    x = np.asarray(x, dtype=np.float32)
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def show_image(ax, image: np.ndarray, title: str | None = None, fontsize: int = 9) -> None:
    """An H×W (grey) or H×W×3 image in [0, 1] on an axis without ticks."""
    if image.ndim == 2:
        ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(np.clip(image, 0, 1), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=fontsize)


def tile_axes(fig: Figure, spec, n: int):
    """n axes on a grid inside a subplot spec cell, tutorial layout (grid_shape)."""
    rows, cols = grid_shape(n)
    sub = spec.subgridspec(rows, cols, wspace=0.05, hspace=0.05)
    return [fig.add_subplot(sub[i // cols, i % cols]) for i in range(n)]


def draw_tiles(fig: Figure, spec, tiles: Sequence[np.ndarray], cmap: str = "viridis",
               labels: Sequence[str] | None = None) -> None:
    """One small image per tile (each scaled on its own), optional tiny labels."""
    for i, ax in enumerate(tile_axes(fig, spec, len(tiles))):
        tile = tiles[i]
        if tile.ndim == 3:
            ax.imshow(np.clip(tile, 0, 1), interpolation="nearest")
        else:
            ax.imshow(tile, cmap=cmap, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        if labels is not None:
            ax.set_title(labels[i], fontsize=6, pad=1)


def tile_grid_figure(tiles: Sequence[np.ndarray], title: str, cmap: str = "viridis",
                     labels: Sequence[str] | None = None, tile_inches: float = 0.9) -> bytes:
    """A whole figure of tiles (filters, patterns, top images) with one title."""
    rows, cols = grid_shape(len(tiles))
    fig = new_figure(max(3.0, cols * tile_inches), rows * tile_inches + 0.6)
    draw_tiles(fig, fig.add_gridspec(1, 1)[0], tiles, cmap, labels)
    fig.suptitle(title, fontsize=10)
    return to_png(fig)


def mosaic(tiles: np.ndarray, pad: int = 1) -> np.ndarray:
    """C×h×w maps → one image of tiles in the tutorial layout, each tile scaled to [0, 1] on its
    own, with NaN gutters (drawn blank). One imshow of a mosaic draws hundreds of maps in a
    fraction of the time of one axis per map."""
    n, h, w = tiles.shape
    rows, cols = grid_shape(n)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), np.nan, dtype=np.float32)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = scale01(tile)
    return out


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The heatmap in colour blended over the image (grey images become RGB), as the Keras book."""
    from matplotlib import colormaps

    rgb = np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image
    colour = colormaps[HEATMAP_CMAP](np.clip(heatmap, 0, 1))[:, :, :3]
    return np.clip((1 - alpha) * rgb + alpha * colour, 0, 1)


def heatmap_figure(image: np.ndarray, heatmap: np.ndarray, title: str, label: str) -> bytes:
    """Three panels: the image, the heatmap, and the heatmap over the image."""
    fig = new_figure(9, 3.4)
    axes = fig.subplots(1, 3)
    show_image(axes[0], image, "input")
    im = axes[1].imshow(heatmap, cmap=HEATMAP_CMAP, vmin=0, vmax=1, interpolation="bilinear")
    axes[1].set_xticks([])
    axes[1].set_yticks([])
    axes[1].set_title(label, fontsize=9)
    fig.colorbar(im, ax=axes[1], fraction=0.046, pad=0.04)
    show_image(axes[2], overlay(image, heatmap), "overlay")
    fig.suptitle(title, fontsize=10)
    return to_png(fig)
