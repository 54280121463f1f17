"""export(): ONNX and TorchScript files that match the PyTorch model, with a dynamic batch
dimension, and `predict` on the exported ONNX file."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

from cnnlab.cli import app
from cnnlab.data import load_data
from cnnlab.evaluate import export, predict
from cnnlab.evaluate.model_export import ExportError
from cnnlab.inference import prepare_batch
from cnnlab.train import load_model


def real_batch(loaded, n):
    digits = load_data("digits")
    return prepare_batch(loaded, list(digits.test.images[:n]))


def test_onnx_parity_on_real_images_with_a_dynamic_batch(digit_run, tmp_path):
    r = export(digit_run, format="onnx", out=tmp_path / "m.onnx")
    assert r.max_abs_diff <= 1e-4 and r.batch_sizes == [1, 8] and "test images of digits" in r.inputs
    meta = json.loads(r.sidecar.read_text())
    loaded = load_model(digit_run)
    assert meta["class_names"] == loaded.class_names and meta["preprocessing"] == loaded.preprocessing.to_dict()
    assert meta["parity"]["max_abs_diff"] <= 1e-4
    session = ort.InferenceSession(str(r.path), providers=["CPUExecutionProvider"])
    for n in (1, 5, 13):  # batch sizes the export never saw
        x = real_batch(loaded, n)
        got = session.run(None, {"input": x.numpy()})[0]
        with torch.no_grad():
            want = loaded.model(x).numpy()
        assert got.shape == (n, 10)
        assert np.abs(got - want).max() <= 1e-4


def test_predict_runs_the_onnx_file_like_the_run(digit_run, tmp_path):
    r = export(digit_run, out=tmp_path)
    assert r.path == tmp_path / "model.onnx"
    digits = load_data("digits")
    from PIL import Image

    paths = []
    for k in range(4):
        paths.append(tmp_path / f"{k}.png")
        Image.fromarray(digits.test.images[k, 0].numpy()).save(paths[-1])
    via_onnx = predict(r.path, paths, top_k=10, tta=True)
    via_torch = predict(digit_run, paths, top_k=10, tta=True)
    for a, b in zip(via_onnx, via_torch):
        assert [c for c, _ in a.top] == [c for c, _ in b.top]
        np.testing.assert_allclose([p for _, p in a.top], [p for _, p in b.top], atol=1e-5)
    # Issue 21 item 15: the export folder itself (runs/exp/export/, as the README shows) finds model.onnx
    via_folder = predict(tmp_path, paths, top_k=10, tta=True)
    assert [r.top for r in via_folder] == [r.top for r in via_onnx]


def test_predict_runs_the_torchscript_file_like_the_run(digit_run, tmp_path, capsys):
    # Issue 21 item 7: `cnnlab predict runs/X/export/model.torchscript.pt x.png` failed with torch's raw
    # weights_only RuntimeError (it was opened as a checkpoint).
    from PIL import Image

    r = export(digit_run, format="torchscript", out=tmp_path)
    digits = load_data("digits")
    paths = []
    for k in range(3):
        paths.append(tmp_path / f"{k}.png")
        Image.fromarray(digits.test.images[k, 0].numpy()).save(paths[-1])
    via_ts, via_torch = predict(r.path, paths, top_k=10), predict(digit_run, paths, top_k=10)
    for a, b in zip(via_ts, via_torch):
        assert a.ok and [c for c, _ in a.top] == [c for c, _ in b.top]
        np.testing.assert_allclose([p for _, p in a.top], [p for _, p in b.top], atol=1e-5)
    out = CliRunner().invoke(app, ["predict", str(r.path), str(paths[0])])
    assert out.exit_code == 0, out.output
    r.sidecar.unlink()
    from cnnlab.cli import main

    with pytest.raises(SystemExit) as done:
        main(["predict", str(r.path), str(paths[0])])
    err = capsys.readouterr().err
    assert done.value.code == 2 and "model.torchscript.pt.json" in err and "Traceback" not in err


def test_torchscript_parity_and_cli(digit_run, tmp_path):
    r = export(digit_run, format="torchscript", out=tmp_path / "ts")
    assert r.path.name == "model.torchscript.pt" and r.max_abs_diff <= 1e-4
    module = torch.jit.load(str(r.path))
    loaded = load_model(digit_run)
    x = real_batch(loaded, 3)
    with torch.no_grad():
        assert torch.allclose(module(x), loaded.model(x), atol=1e-4)
    out = CliRunner().invoke(app, ["export", str(digit_run), "--out", str(tmp_path / "cli.onnx")])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "cli.onnx").is_file() and (tmp_path / "cli.onnx.json").is_file()
    assert "max abs diff" in out.output


def test_a_failed_parity_check_writes_nothing(digit_run, tmp_path):
    with pytest.raises(ExportError, match="differs from the PyTorch model"):
        export(digit_run, out=tmp_path / "m.onnx", tolerance=0.0 - 1.0)
    assert not (tmp_path / "m.onnx").exists() and not (tmp_path / "m.onnx.json").exists()
