"""predict(): folders of files with a corrupt one, table/csv/json output, exit codes."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cnnlab.cli import app
from cnnlab.data import load_data
from cnnlab.errors import ConfigError
from cnnlab.evaluate import predict
from cnnlab.inference import predict_proba
from cnnlab.train import load_model

runner = CliRunner()


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    """Six test digits as 8-bit PNGs (grey, and one RGB JPEG), a corrupt PNG and a text file."""
    root = tmp_path_factory.mktemp("photos")
    digits = load_data("digits")
    arrays = {}
    for k in range(6):
        arr = digits.test.images[k, 0].numpy()
        name = f"digit{k}_{int(digits.test.labels[k])}.png"
        (root / "sub").mkdir(exist_ok=True)
        path = root / ("sub" if k % 2 else "") / name
        Image.fromarray(arr).save(path)
        arrays[str(path)] = arr
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    (root / "notes.txt").write_text("not an image, and not an image extension: skipped")
    return root, arrays


def test_folder_with_a_corrupt_file(digit_run, photo_folder):
    root, arrays = photo_folder
    rows = predict(digit_run, [root], top_k=3)
    assert len(rows) == 7  # six digits + the corrupt file; notes.txt is not an image file
    bad = [r for r in rows if not r.ok]
    assert [r.path for r in bad] == [str(root / "corrupt.png")] and "not a readable image" in bad[0].error
    good = {r.path: r for r in rows if r.ok}
    assert set(good) == set(arrays)
    expected = predict_proba(load_model(digit_run), list(arrays.values()))
    for (path, arr), p in zip(arrays.items(), expected):
        top = good[path].top
        assert len(top) == 3 and top[0][0] == str(int(p.argmax()))
        assert top[0][1] == pytest.approx(float(p.max()), abs=1e-6)
        assert top[0][1] >= top[1][1] >= top[2][1]


def test_tta_and_missing_files(digit_run, photo_folder, tmp_path):
    root, arrays = photo_folder
    path = next(iter(arrays))
    plain, = predict(digit_run, [path], top_k=10)
    flipped, = predict(digit_run, [path], top_k=10, tta=True)
    assert dict(plain.top) != pytest.approx(dict(flipped.top))
    assert sum(p for _, p in flipped.top) == pytest.approx(1, abs=1e-5)
    rows = predict(digit_run, [tmp_path / "missing.png", path])
    assert rows[0].error == "no such file or folder" and rows[1].ok
    with pytest.raises(ConfigError, match="no image files"):
        predict(digit_run, [tmp_path])


def test_cli_formats_and_exit_codes(digit_run, photo_folder):
    root, arrays = photo_folder
    out = runner.invoke(app, ["predict", str(digit_run), str(root), "--format", "csv", "-k", "2"])
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert len(rows) == 7 and set(rows[0]) == {"path", "class_1", "probability_1", "class_2", "probability_2", "error"}
    assert [r["error"] != "" for r in rows].count(True) == 1
    out = runner.invoke(app, ["predict", str(digit_run), str(root / "corrupt.png"), "--format", "json"])
    assert out.exit_code == 1  # nothing could be predicted
    assert json.loads(out.stdout)[0]["error"].startswith("not a readable image")
    out = runner.invoke(app, ["predict", str(digit_run), str(root)], env={"COLUMNS": "200"})
    assert out.exit_code == 0 and "corrupt.png" in out.output and "error" in out.output
