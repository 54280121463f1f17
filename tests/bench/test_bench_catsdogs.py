"""`cnnlab bench catsdogs` runs a row end to end and prints the chapter-5 table (numbers are the
benchmark's business, not checked here)."""

import json

import pytest

from cnnlab.cli import main
from image_files import make_class_folder


def test_a_row_runs_its_recipe_and_the_table_prints(tmp_path, capsys):
    data = tmp_path / "cats_and_dogs_small"
    for split in ("train", "validation", "test"):
        make_class_folder(data / split, per_class=3, size=96, ext=".jpg")
    results = tmp_path / "rows.jsonl"
    with pytest.raises(SystemExit) as e:
        main(["bench", "catsdogs", "--data", str(data), "--rows", "3", "--cut", "2",
              "--project", str(tmp_path / "runs"), "--results", str(results)])
    assert e.value.code == 0
    row = json.loads(results.read_text())
    assert row["row"] == 3 and row["cut"] == 2 and row["recipe"] == "catsdogs-lite0-extract-cached"
    assert 0 <= row["test_acc"] <= 1 and row["wall_s"] > 0
    out = capsys.readouterr().out
    assert "cut to 2 training photos per class" in out and "| 3 pretrained base, cached features" in out

    with pytest.raises(SystemExit) as e:
        main(["bench", "catsdogs", "--table", str(results)])
    assert e.value.code == 0
    assert "catsdogs-lite0-extract-cached | 90 % | ≥ 98.5 % |" in capsys.readouterr().out
