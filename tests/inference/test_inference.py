"""predict_proba prepares every accepted image form the same way as training does."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.data.transforms import Preprocessing
from cnnlab.data.images import ImageLoadError
from cnnlab.inference import predict_proba, top_k
from cnnlab.run.checkpoint import LoadedModel


class MeanBrightness(torch.nn.Module):
    """Two classes: 'dark' vs 'bright', by the mean of the normalised input (a model we can reason about)."""

    def forward(self, x):
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([-m * 10, m * 10], dim=1)


def loaded(binary=False):
    model = MeanBrightness()
    model.register_parameter("dummy", torch.nn.Parameter(torch.zeros(1)))
    pre = Preprocessing(input_size=(8, 8), channels=1, mean=(0.5,), std=(0.5,))
    return LoadedModel(model=model, class_names=["dark", "bright"], preprocessing=pre,
                       architecture={}, checkpoint={}, path=None)


def test_all_image_forms_agree(tmp_path):
    bright = np.full((20, 30), 230, np.uint8)
    path = tmp_path / "b.png"
    Image.fromarray(bright).save(path)
    buf = io.BytesIO()
    Image.fromarray(bright).save(buf, format="PNG")
    forms = [path, str(path), buf.getvalue(), bright, np.stack([bright] * 3, axis=2),
             Image.fromarray(bright), torch.from_numpy(bright)[None]]
    probs = predict_proba(loaded(), forms)
    assert probs.shape == (len(forms), 2)
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-6)
    np.testing.assert_allclose(probs, probs[:1].repeat(len(forms), 0), atol=1e-6)
    assert top_k(probs, ["dark", "bright"], k=1)[0][0][0] == "bright"


def test_dark_is_dark_and_tta_keeps_symmetric_inputs():
    dark = np.full((8, 8), 10, np.uint8)
    p = predict_proba(loaded(), [dark], tta=True)
    assert p[0, 0] > 0.99
    assert top_k(p, ["dark", "bright"], k=5) == [[("dark", pytest.approx(p[0, 0])), ("bright", pytest.approx(p[0, 1]))]]


def test_unreadable_bytes_name_the_problem():
    with pytest.raises(ImageLoadError, match="upload"):
        predict_proba(loaded(), [b"not an image"])
