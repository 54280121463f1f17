"""`imagenet:NAME` works where a run folder does: predict, explain (Grad-CAM on scikit-image's
chelsea lands on the cat), serve; class names match loosely; missing weights fail at once."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from cnnlab.cli import main
from cnnlab.errors import ConfigError, ModelError
from cnnlab.explain import explain
from cnnlab.explain.inputs import match_class_name
from cnnlab.models.pretrained_weights import imagenet_class_names

SOURCE = "imagenet:efficientnet_lite0"


@pytest.fixture(scope="module")
def chelsea(tmp_path_factory):
    data = pytest.importorskip("skimage.data")
    path = tmp_path_factory.mktemp("photos") / "chelsea.png"
    Image.fromarray(data.chelsea()).save(path)
    return path


def on_grey_canvas(photo, corner: str, tmp_path):
    """The photo in one corner of a square grey canvas twice its height: the model's centre crop
    then holds the whole canvas, and the cat sits in a known box of the heatmap."""
    cat = Image.open(photo)
    side = 2 * cat.height
    canvas = Image.new("RGB", (side, side), (128, 128, 128))
    x, y = (0, 0) if corner == "top-left" else (side - cat.width, side - cat.height)
    canvas.paste(cat, (x, y))
    path = tmp_path / f"chelsea-{corner}.png"
    canvas.save(path)
    return path, (y / side, (y + cat.height) / side, x / side, (x + cat.width) / side)


def test_explain_imagenet_source_from_the_command_line(chelsea, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        main(["explain", SOURCE, str(chelsea), "--method", "gradcam", "--class", "tabby"])
    assert done.value.code in (0, None)
    assert "class tabby" in capsys.readouterr().out
    # no run folder: explain/ where you are, the file named by method, layer, class and image
    assert [p.name for p in (tmp_path / "explain").glob("gradcam-*chelsea.png")], list((tmp_path / "explain").iterdir())


@pytest.mark.parametrize("corner", ["top-left", "bottom-right"])
def test_gradcam_peak_is_on_the_cat(chelsea, tmp_path, corner):
    photo, (top, bottom, left, right) = on_grey_canvas(chelsea, corner, tmp_path)
    e = explain(SOURCE, photo, method="gradcam", target="tabby", out=tmp_path / "cam.png")
    heat = e.arrays["heatmap"]
    row, col = np.unravel_index(np.argmax(heat), heat.shape)
    h, w = heat.shape
    assert top <= row / h <= bottom and left <= col / w <= right, (corner, row / h, col / w)
    # and most of the heat is on the cat, which covers a quarter of the canvas
    box = heat[int(top * h):int(bottom * h), int(left * w):int(right * w)]
    assert box.sum() / heat.sum() > 0.5


def test_predict_and_serve_an_imagenet_source(chelsea):
    from fastapi.testclient import TestClient

    from cnnlab.evaluate import predict
    from cnnlab.serve import create_app

    rows = predict(SOURCE, [chelsea], top_k=3)
    assert {name for name, _ in rows[0].top} & {"tabby", "tiger cat", "Egyptian cat"}
    client = TestClient(create_app(SOURCE), base_url="http://127.0.0.1")
    assert client.get("/health").json()["classes"] == 1000
    r = client.post("/predict", files={"file": ("chelsea.png", chelsea.read_bytes(), "image/png")})
    assert r.status_code == 200 and r.json()["prediction"]["class"] in {"tabby", "tiger cat", "Egyptian cat"}


def test_class_names_match_loosely_and_suggest_the_closest():
    names = imagenet_class_names()
    assert names[match_class_name("Tabby", names)] == "tabby"
    assert names[match_class_name("african_elephant", names)] == "African elephant"
    with pytest.raises(ConfigError, match="did you mean.*'African elephant'.*'Indian elephant'|did you mean.*'Indian elephant'.*'African elephant'"):
        match_class_name("elephant", names)  # three elephants: ambiguous
    with pytest.raises(ConfigError, match="did you mean: 'tabby'"):
        match_class_name("tabbby", names)


@pytest.mark.parametrize("source", ["imagenet:vgg16", "imagenet:timm:resnet18"])
def test_missing_weights_fail_at_once_naming_the_file(source, monkeypatch, tmp_path):
    """Not a speed target: the hub client alone retried for about 57 s before this check."""
    from cnnlab.run import Run

    monkeypatch.delenv("CNNLAB_OFFLINE", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty torch hub cache
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    start = time.perf_counter()
    with pytest.raises(ModelError, match="expected (the file|them in)"):
        Run.open(source).model()
    assert time.perf_counter() - start < 45
