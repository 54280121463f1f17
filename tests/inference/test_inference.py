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


class Recorder(torch.nn.Module):
    """Keeps the batches it is given, and answers 'dark'/'bright' by their mean."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.seen = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([-m * 10, m * 10], dim=1)


def test_all_image_forms_agree(tmp_path):
    # A 20 high × 30 wide RGB image with different channels and a bright patch top-right: a
    # transpose, a channel swap or a wrong resize of any one form changes what the model sees.
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[..., 0] = np.linspace(0, 250, 30, dtype=np.uint8)[None, :]  # red grows to the right
    rgb[..., 1] = 60
    rgb[..., 2] = np.linspace(200, 0, 20, dtype=np.uint8)[:, None]  # blue fades downwards
    rgb[2:8, 20:28] = 255
    path = tmp_path / "b.png"
    Image.fromarray(rgb).save(path)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    forms = [path, str(path), buf.getvalue(), rgb, np.dstack([rgb, np.full((20, 30), 255, np.uint8)]),
             Image.fromarray(rgb), torch.from_numpy(rgb).permute(2, 0, 1).contiguous()]
    model = Recorder()
    pre = Preprocessing(input_size=(10, 12), channels=3, mean=(0.5,) * 3, std=(0.5,) * 3)
    lm = LoadedModel(model=model, class_names=["dark", "bright"], preprocessing=pre,
                     architecture={}, checkpoint={}, path=None)
    probs = predict_proba(lm, forms)
    assert probs.shape == (len(forms), 2)
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-6)
    (seen,) = model.seen
    assert seen.shape == (len(forms), 3, 10, 12)
    # Every form reaches the model as exactly the same input as the file the training data reads,
    for i in range(len(forms)):
        torch.testing.assert_close(seen[i], seen[0], atol=1e-6, rtol=0, msg=f"form {i} ({type(forms[i]).__name__})")
    # and that input is the image itself: resized to 10×12 independently (PIL, bilinear), normalised.
    expected = np.asarray(Image.fromarray(rgb).resize((12, 10), Image.BILINEAR), np.float32) / 255 * 2 - 1
    np.testing.assert_allclose(seen[0].permute(1, 2, 0).numpy(), expected, atol=0.08)
    x = seen[0]
    assert x[0, :, -3:].mean() > x[0, :, :3].mean() + 1  # red on the right
    assert x[2, :3].mean() > x[2, -3:].mean() + 1  # blue at the top
    assert x[1, 1:4, 8:11].mean() > 0.7 and x[1, 5:, :6].max() < -0.4  # the white patch: top-right only


def test_dark_is_dark_and_tta_keeps_symmetric_inputs():
    dark = np.full((8, 8), 10, np.uint8)
    p = predict_proba(loaded(), [dark], tta=True)
    assert p[0, 0] > 0.99
    assert top_k(p, ["dark", "bright"], k=5) == [[("dark", pytest.approx(p[0, 0])), ("bright", pytest.approx(p[0, 1]))]]


def test_unreadable_bytes_name_the_problem():
    with pytest.raises(ImageLoadError, match="upload"):
        predict_proba(loaded(), [b"not an image"])
