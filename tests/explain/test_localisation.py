"""Localisation on real data: MNIST digits pasted at random places on a 56×56 blank canvas; a
small CNN trained on such canvases must put its Grad-CAM and occlusion peaks inside the digit."""

import time

import numpy as np
import pytest
import torch
from torch import nn

from cnnlab.data import load_data
from cnnlab.data.transforms import Preprocessing
from cnnlab.explain import explain
from cnnlab.explain.gradcam import class_heatmaps
from cnnlab.explain.inputs import class_scores
from cnnlab.explain.occlusion import occlusion_maps
from cnnlab.run.checkpoint import LoadedModel

CANVAS = 56


def paste_on_canvases(digits: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, np.ndarray]:
    """N×1×28×28 uint8 digits → N×1×56×56 canvases and each digit's ink box (top, left, bottom, right)."""
    n = len(digits)
    canvases = torch.zeros(n, 1, CANVAS, CANVAS, dtype=torch.uint8)
    boxes = np.zeros((n, 4), dtype=int)
    for i in range(n):
        r, c = rng.integers(0, CANVAS - 28 + 1, size=2)
        canvases[i, 0, r:r + 28, c:c + 28] = digits[i, 0]
        ys, xs = np.nonzero(digits[i, 0].numpy() > 25)
        boxes[i] = (r + ys.min(), c + xs.min(), r + ys.max(), c + xs.max())
    return canvases, boxes


def small_cnn() -> nn.Sequential:
    # global average pooling before the classifier: the class evidence must stay in the maps;
    # BatchNorm so that three quick epochs suffice (and Grad-CAM is checked through BN layers)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def peak_inside(maps: np.ndarray, boxes: np.ndarray, margin: int = 2) -> np.ndarray:
    """Whether each map's maximum lies inside its digit's ink box (grown by `margin` pixels)."""
    flat = maps.reshape(len(maps), -1).argmax(axis=1)
    ys, xs = np.unravel_index(flat, maps.shape[1:])
    t, l, b, r = boxes.T
    return (ys >= t - margin) & (ys <= b + margin) & (xs >= l - margin) & (xs <= r + margin)


@pytest.fixture(scope="module")
def canvas_model(mnist_root):
    rng = np.random.default_rng(0)
    data = load_data("mnist", data_root=mnist_root, limit=4000)
    train_x, _ = paste_on_canvases(data.train.images, rng)
    train_y = data.train.labels
    pre = Preprocessing(input_size=(CANVAS, CANVAS), channels=1, mean=(0.033,), std=(0.17,))
    torch.manual_seed(0)
    model = small_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    start = time.perf_counter()
    for epoch in range(3):
        order = torch.randperm(len(train_x))
        for i in range(0, len(order), 64):
            idx = order[i:i + 64]
            loss = nn.functional.cross_entropy(model(pre.normalize(train_x[idx])), train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    test_x, boxes = paste_on_canvases(data.test.images[:100], rng)
    with torch.no_grad():
        acc = (model(pre.normalize(test_x)).argmax(1) == data.test.labels[:100]).float().mean().item()
    print(f"canvas model: {time.perf_counter() - start:.1f} s training, test accuracy {acc:.3f}")
    loaded = LoadedModel(model, [str(i) for i in range(10)], pre, {}, {}, None)
    return loaded, pre.normalize(test_x), test_x, boxes, acc


def test_gradcam_and_occlusion_peaks_fall_on_the_digit(canvas_model):
    loaded, batch, _, boxes, acc = canvas_model
    assert acc > 0.8
    forward = class_scores(loaded)
    with torch.no_grad():
        predicted = forward(batch).argmax(1)
    _, cams = class_heatmaps(forward, loaded.model, "8", batch, predicted)
    drops = occlusion_maps(forward, loaded.preprocessing, batch, predicted, patch=8, stride=4)
    cam_hits = peak_inside(cams, boxes).mean()
    occ_hits = peak_inside(drops, boxes).mean()
    print(f"peaks inside the digit box: Grad-CAM {cam_hits:.3f}, occlusion {occ_hits:.3f} (of {len(boxes)})")
    assert cam_hits >= 0.9
    assert occ_hits >= 0.9


def test_explain_gives_the_same_heatmap_for_one_canvas(canvas_model):
    loaded, batch, images, boxes, _ = canvas_model
    e = explain(loaded, images[0].permute(1, 2, 0).numpy(), method="gradcam", layer="8")
    # Computed here, without cnnlab: A = the output of module "8" (a hook), α_k = mean of ∂y_c/∂A^k,
    # ReLU(Σ_k α_k A^k), bilinearly upsampled to the canvas and divided by its peak.
    captured = {}
    handle = loaded.model[8].register_forward_hook(lambda m, i, out: captured.setdefault("a", out))
    x = batch[:1].clone().requires_grad_(True)
    score = loaded.model(x)[0, e.prediction["index"]]
    handle.remove()
    (grad,) = torch.autograd.grad(score, captured["a"])
    cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * captured["a"]).sum(dim=1, keepdim=True)).detach()
    up = nn.functional.interpolate(cam, size=(CANVAS, CANVAS), mode="bilinear", align_corners=False)[0, 0]
    expected = (up / up.max()).numpy()
    assert expected.max() == 1
    np.testing.assert_allclose(e.arrays["heatmap"], expected, atol=1e-5)
    # and the heatmap the batch API gives agrees
    _, cams = class_heatmaps(class_scores(loaded), loaded.model, "8", batch[:1], torch.tensor([e.prediction["index"]]))
    np.testing.assert_allclose(cams[0], expected, atol=1e-5)
