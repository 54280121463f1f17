"""Filters: the weights of a conv layer drawn as small images. For the first layer they are
templates over pixels (edges, blobs, colours); deeper filters mix feature maps and are shown
as one tile per (filter, input channel) pair for the first few input channels."""

from __future__ import annotations

import numpy as np
from torch import nn

from cnnlab.explain.render import scale01, tile_grid_figure


def filter_tiles(conv: nn.Module, max_filters: int = 64, max_inputs: int = 8) -> tuple[list[np.ndarray], list[str]]:
    """Tiles and labels: RGB tiles for 3 input channels, grey per input channel otherwise."""
    w = conv.weight.detach().float().cpu().numpy()[:max_filters]  # out × in × kh × kw
    tiles, labels = [], []
    for f, kernel in enumerate(w):
        if kernel.shape[0] == 3:
            tiles.append(scale01(kernel.transpose(1, 2, 0)))
            labels.append(str(f))
            continue
        for c in range(min(kernel.shape[0], max_inputs)):
            tiles.append(kernel[c])  # scaled per tile by the grey colormap
            labels.append(f"{f}" if kernel.shape[0] == 1 else f"{f}/{c}")
    return tiles, labels


def filters_figure(conv: nn.Module, name: str, max_filters: int = 64) -> bytes:
    tiles, labels = filter_tiles(conv, max_filters)
    w = conv.weight
    title = f"filters of {name}: {w.shape[0]} × {w.shape[1]}×{w.shape[2]}×{w.shape[3]}"
    return tile_grid_figure(tiles, title, cmap="gray", labels=labels, tile_inches=0.7)
