"""Adding an explain method or an augmentation preset is one new module: a toy of each, written
into a folder of its package, shows in `--help`, in the API and in the web app with no other edit."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from torch import nn
from typer.testing import CliRunner

import cnnlab.data.augment_presets as preset_package
import cnnlab.explain.methods as method_package
from cnnlab.cli import app
from cnnlab.data.transforms import Preprocessing
from cnnlab.run.checkpoint import LoadedModel

TOY_METHOD = '''
"""A toy explain method: the image's brightness, as a test adds it."""

from cnnlab.explain.context import ExplainContext
from cnnlab.explain.methods import PER_IMAGE, method
from cnnlab.explain.render import heatmap_figure
from cnnlab.explain.result import Explanation


@method("toy", PER_IMAGE, "Toy: the image's own brightness as the heatmap")
def toy(ctx: ExplainContext, *, gain: float = 1.0) -> Explanation:
    heat = ctx.image.display if ctx.image.display.ndim == 2 else ctx.image.display.mean(2)
    heat = (heat * gain).clip(0, 1)
    return Explanation("toy", heatmap_figure(ctx.image.display, heat, "toy", "brightness"), {"heatmap": heat},
                       "toy", prediction=ctx.prediction)
'''

TOY_PRESET = '''
"""A toy augmentation preset, as a test adds it."""

from cnnlab.data.augment import Augment
from cnnlab.data.augment_presets import preset


@preset("toy-flip")
def toy_flip() -> Augment:
    """Toy: vertical flips only."""
    return Augment(vflip=0.5)
'''


@pytest.fixture
def toys(tmp_path, monkeypatch):
    """Each toy in a module of its own, in a folder added to its package's path; undone afterwards."""
    for package, name, source in ((method_package, "toy_method", TOY_METHOD),
                                  (preset_package, "toy_preset", TOY_PRESET)):
        registry = package.REGISTRY if package is method_package else package.PRESETS
        registry.discover()  # the package's own modules, registered before the snapshot below
        folder = tmp_path / package.__name__.rsplit(".", 1)[1]
        folder.mkdir()
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
        monkeypatch.setattr(package, "__path__", [*package.__path__, str(folder)])
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
        monkeypatch.setattr(registry, "_origin", dict(registry._origin))
        monkeypatch.delitem(sys.modules, f"{package.__name__}.{name}", raising=False)
    yield
    for package, name in ((method_package, "toy_method"), (preset_package, "toy_preset")):
        sys.modules.pop(f"{package.__name__}.{name}", None)


def tiny_model() -> LoadedModel:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 3)).eval()
    pre = Preprocessing(input_size=(12, 12), channels=1, mean=(0.5,), std=(0.25,))
    return LoadedModel(model, ["a", "b", "c"], pre, {"name": "tiny"}, {}, None)


def help_of(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_a_toy_method_and_preset_appear_everywhere(toys):
    from cnnlab.data.augment import resolve_augment
    from cnnlab.data.augment import AUGMENT_PRESETS
    from cnnlab.explain import explain
    from cnnlab.explain.api import METHODS
    from cnnlab.serve import create_app
    from cnnlab.settings import TrainConfig

    # --help of explain and of train (and data preview, lr-find)
    assert "toy: Toy: the image's own brightness as the heatmap (per-image)" in help_of("explain")
    for verb in (("train",), ("lr-find",), ("data", "preview")):
        assert "toy-flip: Toy: vertical flips only." in help_of(*verb)

    # the API
    assert "toy" in METHODS
    image = (np.arange(144, dtype=np.uint8).reshape(12, 12))
    e = explain(tiny_model(), image, method="toy", gain=2.0)
    assert e.method == "toy" and e.arrays["heatmap"].shape == (12, 12) and e.png.startswith(b"\x89PNG")
    assert e.arrays["heatmap"].max() == 1.0  # the option reached the method
    assert resolve_augment("toy-flip").vflip == 0.5 and AUGMENT_PRESETS["toy-flip"].vflip == 0.5
    assert TrainConfig(augment="toy-flip").augmentation.vflip == 0.5

    # the web app's list of methods, and its /explain endpoint
    client = TestClient(create_app(tiny_model()), base_url="http://127.0.0.1")
    assert "toy" in client.get("/model").json()["explain_methods"]
    assert '"toy"' in client.get("/").text
    from io import BytesIO

    from PIL import Image

    buf = BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    r = client.post("/explain", files={"file": ("x.png", buf.getvalue(), "image/png")}, data={"method": "toy"})
    assert r.status_code == 200 and r.content.startswith(b"\x89PNG")


def test_without_the_toys_nothing_is_left_behind():
    from cnnlab.data.augment import AUGMENT_PRESETS
    from cnnlab.explain.api import METHODS

    assert "toy" not in METHODS and "toy-flip" not in AUGMENT_PRESETS
    assert list(METHODS) == ["featuremaps", "gradcam", "gradcam++", "occlusion", "saliency", "filters", "patterns",
                             "embedding", "top-images"]
    assert list(AUGMENT_PRESETS) == ["none", "light", "photo", "autoaugment", "randaugment", "trivialaugment",
                                     "mnist-tutorial", "keras-ch5", "imagenet"]


def test_unknown_names_list_the_registered_ones():
    from cnnlab.data.augment import resolve_augment
    from cnnlab.errors import ConfigError
    from cnnlab.explain import explain

    with pytest.raises(ConfigError, match="augment: unknown preset 'heavy'; choose one of .*keras-ch5"):
        resolve_augment("heavy")
    with pytest.raises(ConfigError, match="method 'gradcm': unknown; choose one of featuremaps, gradcam"):
        explain(tiny_model(), None, method="gradcm")

