"""Feature maps: a layer's activations for one image, one tile per channel (the PyTorch MNIST
tutorial's 4×8 grid of conv1), and the Keras book's view of every conv/pool layer of the net,
where the maps grow sparser and more abstract with depth. Captured with the model tracer's
forward hooks (`cnnlab.models.tracing.capture`)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from cnnlab.explain.render import mosaic, new_figure, show_image, to_png
from cnnlab.explain.target_layers import ACTIVATIONS, NORMS, POOLS, LayerInfo
from cnnlab.models.tracing import capture



def keras_view_layers(layers: Sequence[LayerInfo], max_layers: int = 12) -> list[str]:
    """Every conv and pool layer with C×H×W output, in forward order; a conv is shown after its
    activation (skipping a norm in between), as Keras' Conv2D(activation="relu") outputs."""
    leaves = [li for li in layers if li.is_spatial]
    chosen: list[str] = []
    for i, li in enumerate(leaves):
        if li.kind.startswith("Conv"):
            name = li.name
            for nxt in leaves[i + 1:i + 3]:
                if nxt.kind in NORMS:
                    continue
                if nxt.kind in ACTIVATIONS and nxt.output_shape == li.output_shape:
                    name = nxt.name
                break
            chosen.append(name)
        elif li.kind in POOLS:
            chosen.append(li.name)
    return list(dict.fromkeys(chosen))[:max_layers]


def layer_activations(model: nn.Module, batch: torch.Tensor, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The named layers' outputs for the first image of the batch: C×H×W arrays."""
    with torch.no_grad(), capture(model, names) as captured:
        model(batch)
    return {n: captured[n][0].float().cpu().numpy() for n in names}


def sparsity(maps: np.ndarray) -> float:
    """Fraction of exactly-zero activations (ReLU's silence)."""
    return float((maps == 0).mean())


def featuremaps_figure(image: np.ndarray, maps: dict[str, np.ndarray], title: str,
                       max_channels: int = 64) -> bytes:
    """The image beside one mosaic of tiles per layer (at most `max_channels` tiles each)."""
    names = list(maps)
    blocks = [mosaic(maps[n][:max_channels]) for n in names]
    heights = [0.4 + 7.5 * b.shape[0] / b.shape[1] for b in blocks]  # 7.5 inches wide mosaics
    fig = new_figure(9, 0.5 + sum(heights))
    grid = fig.add_gridspec(len(names), 2, width_ratios=[1, 5], height_ratios=heights, hspace=0.15)
    first = fig.add_subplot(grid[0, 0])
    show_image(first, image, "input")
    first.set_anchor("N")
    for row, (name, block) in enumerate(zip(names, blocks)):
        m = maps[name]
        ax = fig.add_subplot(grid[row, 1])
        ax.set_anchor("N")
        ax.imshow(np.ma.masked_invalid(block), cmap="viridis", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ax.spines.values():
            side.set_visible(False)
        shown = "" if len(m) <= max_channels else f" (first {max_channels})"
        ax.set_title(f"{name}: {m.shape[0]} maps {m.shape[1]}×{m.shape[2]}, {sparsity(m):.0%} zeros{shown}",
                     fontsize=9, loc="left")
    fig.suptitle(title, fontsize=11)
    return to_png(fig)
