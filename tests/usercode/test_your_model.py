"""Your own nn.Module: trained by import path and as an instance, then evaluated, explained
(Grad-CAM), exported and served from its run folder; and what works when its code is gone."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.cli import main
from cnnlab.run import files
from cnnlab.run.checkpoint import load_checkpoint, load_model

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def digit_png(tmp_path) -> Path:
    from cnnlab.data import load_data

    image = load_data("digits", limit=200).test.images[0][0].numpy()
    path = tmp_path / "digit.png"
    Image.fromarray(image).resize((32, 32), Image.NEAREST).save(path)
    return path


def cli(*args: str) -> None:
    try:
        main(list(args))
    except SystemExit as e:
        assert e.code in (0, None), f"cnnlab {' '.join(args)} exited {e.code}"


def use_the_verbs(run: Path, image: Path) -> None:
    """Evaluate, explain (Grad-CAM), export and serve a run folder, as a user would."""
    cli("evaluate", str(run))
    metrics = json.loads((run / "evaluation" / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.3  # 10 classes: chance is 0.1; a few epochs of a global-pooling net

    cli("explain", str(run), str(image), "--method", "gradcam")
    cams = list((run / "explain").glob("gradcam-*.png"))
    assert cams, "no Grad-CAM image written"

    cli("export", str(run), "--format", "onnx")
    assert list((run / "export").glob("*.onnx"))

    from fastapi.testclient import TestClient

    from cnnlab.serve import create_app

    client = TestClient(create_app(run), base_url="http://127.0.0.1")  # the app answers its own host names only
    answer = client.post("/predict", files={"file": ("digit.png", image.read_bytes(), "image/png")})
    assert answer.status_code == 200, answer.text
    assert answer.json()["prediction"]["class"] in [str(i) for i in range(10)]


def test_import_path_from_the_command_line(tmp_path, monkeypatch, digit_png):
    monkeypatch.chdir(REPO)  # `tests.mymodels` is importable from the folder cnnlab runs in
    cli("train", "--data", "digits", "--model", "tests.mymodels:SmallNet", "--model-arg", "width=8",
        "--epochs", "4", "--lr", "0.01", "--project", str(tmp_path / "runs"), "--name", "cli", "--quiet", "--no-report")
    run = tmp_path / "runs" / "cli"
    ckpt = load_checkpoint(run)  # weights_only: the import path and kwargs, never a pickle
    assert ckpt["architecture"]["name"] == "tests.mymodels:SmallNet"
    assert ckpt["architecture"]["kwargs"] == {"width": 8}
    assert (run / files.SCRIPTED).is_file()
    assert type(load_model(run).model).__name__ == "SmallNet"  # rebuilt from the code, not the copy
    use_the_verbs(run, digit_png)


def test_an_instance_given_to_fit(tmp_path, monkeypatch, digit_png):
    from cnnlab.train import fit
    from tests.mymodels import SmallNet

    net = SmallNet()  # its own defaults, so later verbs can rebuild it (with options: see below)
    result = fit(data="digits", model=net, epochs=4, lr=0.01, quiet=True, project=tmp_path / "runs", name="api",
                 report=False)
    assert result.model is net  # trained as it is, not rebuilt
    assert result.config.model == "tests.mymodels:SmallNet"
    # later verbs rebuild it from the import path: the data's sizes fill num_classes and in_channels
    rebuilt = load_model(result.run_dir)
    assert rebuilt.needs_code is None and type(rebuilt.model).__name__ == "SmallNet"
    monkeypatch.chdir(tmp_path)
    use_the_verbs(result.run_dir, digit_png)
    # built with an option the checkpoint cannot know: the run's TorchScript copy stands in
    other = fit(data="digits", model=SmallNet(width=4), epochs=1, limit=100, quiet=True, project=tmp_path / "runs",
                name="api-width", report=False)
    copy = load_model(other.run_dir)
    assert copy.needs_code and "weights do not match" in copy.needs_code


def test_a_class_and_a_factory_become_import_paths(tmp_path):
    from cnnlab.train import fit
    from tests.mymodels import SmallNet, small_net

    r = fit(data="digits", model=SmallNet, model_kwargs={"width": 4}, epochs=1, limit=100, quiet=True,
            project=tmp_path, name="cls", report=False)
    assert r.config.model == "tests.mymodels:SmallNet" and r.config.model_kwargs == {"width": 4}
    r = fit(data="digits", model=small_net, epochs=1, limit=100, quiet=True, project=tmp_path, name="fn", report=False)
    assert load_checkpoint(r.run_dir)["architecture"]["name"] == "tests.mymodels:small_net"


def test_without_its_code_predict_and_evaluate_work_explain_names_the_module(tmp_path, monkeypatch, digit_png, capsys):
    (tmp_path / "gone_net.py").write_text((REPO / "tests" / "mymodels.py").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    cli("train", "--data", "digits", "--model", "gone_net:SmallNet", "--epochs", "1", "--limit", "200", "--project", "runs",
        "--name", "gone", "--quiet", "--no-report")
    (tmp_path / "gone_net.py").unlink()
    sys.modules.pop("gone_net", None)
    run = tmp_path / "runs" / "gone"

    loaded = load_model(run)  # the TorchScript copy
    assert isinstance(loaded.model, torch.jit.ScriptModule) and "gone_net" in loaded.needs_code
    cli("evaluate", str(run))
    cli("predict", str(run), str(digit_png), "--format", "json")
    assert '"class"' in capsys.readouterr().out

    with pytest.raises(SystemExit) as exit_:
        main(["explain", str(run), str(digit_png), "--method", "gradcam"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "gone_net" in err and "install" in err and "Traceback" not in err


def test_a_class_in_main_trains_from_its_instance(tmp_path):
    """A class with no import path (a notebook's, or a test's local one) still trains; its run
    folder's TorchScript copy predicts."""
    from cnnlab.train import fit

    class Local(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
            self.fc = torch.nn.Linear(4, 10)

        def forward(self, x):
            return self.fc(self.conv(x).relu().mean((2, 3)))

    r = fit(data="digits", model=Local(), epochs=1, limit=100, quiet=True, project=tmp_path, name="local", report=False)
    loaded = load_model(r.run_dir)
    assert loaded.needs_code and "Local" in loaded.needs_code
    x = torch.zeros(1, 1, *loaded.preprocessing.input_size)
    assert torch.allclose(loaded.model(x), r.model.eval()(x), atol=1e-5)
