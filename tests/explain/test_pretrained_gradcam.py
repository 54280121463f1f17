"""Grad-CAM on the pretrained EfficientNet-Lite0 (offline ImageNet weights) finds the object it
is asked about: scikit-image's cat photo and coffee cup in opposite corners of one canvas."""

import numpy as np
import pytest
from PIL import Image

skimage_data = pytest.importorskip("skimage.data")


def square(photo: np.ndarray, size: int = 224) -> np.ndarray:
    h, w = photo.shape[:2]
    s = min(h, w)
    crop = photo[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    return np.asarray(Image.fromarray(crop).resize((size, size)))


def quadrant_means(heatmap: np.ndarray) -> dict[str, float]:
    h, w = heatmap.shape
    return {"top-left": heatmap[:h // 2, :w // 2].mean(), "top-right": heatmap[:h // 2, w // 2:].mean(),
            "bottom-left": heatmap[h // 2:, :w // 2].mean(), "bottom-right": heatmap[h // 2:, w // 2:].mean()}


def test_gradcam_peaks_on_the_cat_and_on_the_cup(tmp_path):
    from cnnlab.explain import explain
    from cnnlab.models.pretrained import load_pretrained

    model = load_pretrained("efficientnet_lite0")
    canvas = np.full((448, 448, 3), 128, np.uint8)  # grey, with the cat top-left and the cup bottom-right
    canvas[:224, :224] = square(skimage_data.chelsea())
    canvas[224:, 224:] = square(skimage_data.coffee())

    cat = explain(model, canvas, method="gradcam", target="tabby", out=tmp_path / "cat.png")
    heat = cat.arrays["heatmap"]
    y, x = np.unravel_index(heat.argmax(), heat.shape)
    assert y < heat.shape[0] // 2 and x < heat.shape[1] // 2, f"tabby peak at {(y, x)}, not on the cat"
    assert max(quadrant_means(heat), key=quadrant_means(heat).get) == "top-left"
    assert "tabby" in cat.title and (tmp_path / "cat.png").stat().st_size > 10_000

    cup = explain(model, canvas, method="gradcam", target="espresso")
    means = quadrant_means(cup.arrays["heatmap"])
    assert max(means, key=means.get) == "bottom-right", means
