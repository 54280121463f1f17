"""Occlusion maps (Zeiler & Fergus 2014, CS231n): slide a grey patch over the image and record
how much the class probability drops at each position. Computed by captum's Occlusion, which
averages the drop over every patch that covers a pixel, giving a map at the input size."""

from __future__ import annotations

import numpy as np
import torch
from captum.attr import Occlusion


def default_patch(size: tuple[int, int]) -> tuple[int, int]:
    """Patch side a quarter of the image (7 for 28×28), stride a third of that."""
    patch = max(2, min(size) // 4)
    return patch, max(1, patch // 3)


def fill_tensor(preprocessing, fill: float | str, shape: torch.Size) -> torch.Tensor:
    """The patch's value in normalised units: "mean" is the training mean (0 after normalising,
    the pixel the network saw most, so the patch adds no new edge), a number is a grey in [0, 1]."""
    if fill == "mean":
        return torch.zeros(shape)
    grey = torch.full((1, preprocessing.channels, 1, 1), float(fill))
    return preprocessing.normalize(grey).expand(shape).contiguous()


def occlusion_maps(forward, preprocessing, batch: torch.Tensor, targets: torch.Tensor,
                   patch: int | None = None, stride: int | None = None, fill: float | str = "mean",
                   per_eval: int = 256) -> np.ndarray:
    """Drop in class probability per pixel (N×H×W; positive where hiding the pixel hurts)."""
    d_patch, d_stride = default_patch(tuple(batch.shape[-2:]))
    patch, stride = patch or d_patch, stride or d_stride
    channels = batch.shape[1]

    def proba(x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(forward(x), dim=1)

    with torch.no_grad():
        drop = Occlusion(proba).attribute(
            batch, sliding_window_shapes=(channels, patch, patch), strides=(channels, stride, stride),
            baselines=fill_tensor(preprocessing, fill, batch.shape).to(batch.device), target=targets,
            perturbations_per_eval=per_eval)
    # every channel of a pixel is hidden together, so the channels carry the same value
    return drop[:, 0].cpu().numpy()
