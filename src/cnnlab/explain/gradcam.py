"""Grad-CAM and Grad-CAM++: where in a layer's feature maps the evidence for a class lies.

Grad-CAM (Selvaraju et al. 2017): with A^k the k-th feature map of the layer and y^c the class
score (logit), α_k = mean over positions of ∂y^c/∂A^k, and the map is ReLU(Σ_k α_k A^k).
Captum's LayerGradCam computes exactly this; Grad-CAM++ (Chattopadhay et al. 2018) weights each
position's gradient instead, which captum lacks, so it is written out here from the paper's
closed form for an exponential score.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from captum.attr import LayerGradCam

from cnnlab.models.tracing import capture


def upsample(cams: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """N×h×w maps → N×H×W by bilinear interpolation (the map of each position covers a patch)."""
    return F.interpolate(cams[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def normalise_maps(maps: torch.Tensor) -> torch.Tensor:
    """Divide each map by its maximum so the peak is 1; an all-zero map stays zero."""
    peak = maps.flatten(1).amax(dim=1).clamp(min=1e-12).view(-1, 1, 1)
    return (maps / peak).clamp(0, 1)


def gradcam_maps(forward, model: torch.nn.Module, layer: str, batch: torch.Tensor,
                 targets: torch.Tensor) -> torch.Tensor:
    """Grad-CAM at the layer's resolution: N×h×w, ReLU(Σ_k α_k A^k), by captum's LayerGradCam."""
    module = dict(model.named_modules())[layer]
    with torch.enable_grad():
        cams = LayerGradCam(forward, module).attribute(batch, target=targets, relu_attributions=True)
    return cams.detach()[:, 0]


def gradcam_plus_plus_maps(forward, model: torch.nn.Module, layer: str, batch: torch.Tensor,
                           targets: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++ at the layer's resolution: N×h×w.

    With g = ∂y^c/∂A (for the score exp(y^c) the higher derivatives are powers of g),
    a_ij = g² / (2 g² + Σ_ab A_ab · g³), w_k = Σ_ij a_ij ReLU(g_ij), map = ReLU(Σ_k w_k A^k).
    """
    with torch.enable_grad(), capture(model, [layer]) as captured:
        batch = batch.detach().requires_grad_(True)
        scores = forward(batch).gather(1, targets.view(-1, 1)).sum()
        acts = captured[layer]
        grads = torch.autograd.grad(scores, acts)[0]
    acts, grads = acts.detach(), grads.detach()
    g2, g3 = grads ** 2, grads ** 3
    denom = 2 * g2 + acts.sum(dim=(2, 3), keepdim=True) * g3
    alpha = torch.where(grads != 0, g2 / torch.where(denom != 0, denom, torch.ones_like(denom)),
                        torch.zeros_like(grads))
    weights = (alpha * F.relu(grads)).sum(dim=(2, 3), keepdim=True)
    return F.relu((weights * acts).sum(dim=1))


def class_heatmaps(forward, model: torch.nn.Module, layer: str, batch: torch.Tensor,
                   targets: torch.Tensor, plus: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(raw maps N×h×w, heatmaps N×H×W in [0, 1] at the input size) for a batch."""
    fn = gradcam_plus_plus_maps if plus else gradcam_maps
    cams = fn(forward, model, layer, batch, targets)
    heat = normalise_maps(upsample(cams.float(), tuple(batch.shape[-2:])))
    return cams.cpu().numpy(), heat.cpu().numpy()
