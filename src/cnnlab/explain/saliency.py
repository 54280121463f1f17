"""Saliency maps (Simonyan et al. 2014): |∂ class score / ∂ pixel|, the pixels whose change
would move the score most, by captum's Saliency; the maximum over colour channels."""

from __future__ import annotations

import numpy as np
import torch
from captum.attr import Saliency


def saliency_maps(forward, batch: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    """N×H×W absolute input gradients of the class scores."""
    with torch.enable_grad():
        grads = Saliency(forward).attribute(batch.detach().requires_grad_(True), target=targets, abs=True)
    return grads.detach().amax(dim=1).cpu().numpy()
