"""Filter patterns by gradient ascent in input space (the Keras book, 5.4.2): start from a grey
image with noise and climb the gradient of one filter's mean activation, each step normalised
to unit RMS so the step size does not depend on the gradient's scale. All filters of a grid
climb together as one batch: image i only feeds filter i's objective, so the gradients do not
mix."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cnnlab.models.tracing import capture


def filter_activation(model: nn.Module, layer: str, x: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
    """Mean activation of filter filters[i] of the layer for image i (N values, in the graph)."""
    with capture(model, [layer]) as captured:
        model(x)
    acts = captured[layer]
    return acts[torch.arange(len(filters)), filters].flatten(1).mean(dim=1)


def gradient_ascent(model: nn.Module, layer: str, preprocessing, filters: list[int], steps: int = 40,
                    step_size: float = 0.05, noise: float = 0.1, seed: int = 0
                    ) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """(inputs in [0, 1]-pixel units N×C×H×W, activation at the start, at the end) per filter.

    The search runs in pixel units (before normalisation), so the step means the same on every
    data set: 0.05 is about 13 grey levels per step (the book takes 1 of 255 per step on a VGG;
    a small MNIST net needs larger steps to rise tenfold in 40 steps). As in the book, pixels are
    not clipped: the pattern may leave [0, 1], and `deprocess` rescales it for display.
    """
    g = torch.Generator().manual_seed(seed)
    shape = (len(filters), preprocessing.channels, *preprocessing.input_size)
    device = next(model.parameters()).device
    x = (0.5 + noise * torch.randn(shape, generator=g)).to(device)
    idx = torch.tensor(filters, device=device)
    with torch.enable_grad():
        start = None
        for _ in range(steps):
            x = x.detach().requires_grad_(True)
            act = filter_activation(model, layer, preprocessing.normalize(x), idx)
            if start is None:
                start = act.detach()
            grad = torch.autograd.grad(act.sum(), x)[0]
            rms = grad.flatten(1).pow(2).mean(dim=1).sqrt().view(-1, 1, 1, 1)
            x = x + step_size * grad / (rms + 1e-8)
        with torch.no_grad():
            end = filter_activation(model, layer, preprocessing.normalize(x), idx)
    return x.detach().cpu(), start.cpu().numpy(), end.cpu().numpy()


def deprocess(x: torch.Tensor) -> np.ndarray:
    """The book's display transform: centre, scale to std 0.1 around 0.5, clip to [0, 1]."""
    x = x - x.mean(dim=(1, 2, 3), keepdim=True)
    x = x / (x.std(dim=(1, 2, 3), keepdim=True) + 1e-5) * 0.1 + 0.5
    x = x.clamp(0, 1).permute(0, 2, 3, 1).numpy()
    return x[..., 0] if x.shape[-1] == 1 else x
