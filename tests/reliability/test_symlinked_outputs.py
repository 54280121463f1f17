"""Issue 19 item 1: evaluate, export and explain never write through a link planted in the run
folder (evaluate once overwrote metrics.json and predictions.csv in the linked folder)."""

from __future__ import annotations

import shutil

import pytest

from cnnlab.train import fit
from reliability.matrix import run_cli_inprocess


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return fit(data="digits", model="mnist-tiny", epochs=1, limit=100, project=tmp_path_factory.mktemp("runs"),
               name="r", quiet=True, report=False, evaluate_test=False).run_dir


@pytest.mark.parametrize("verb,folder", [("evaluate", "evaluation"), ("export", "export"), ("explain", "explain")])
def test_linked_output_folder_is_refused_and_nothing_written_there(run_dir, tmp_path, verb, folder):
    run = shutil.copytree(run_dir, tmp_path / "r")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "metrics.json").write_text("keep")
    (run / folder).symlink_to(outside, target_is_directory=True)
    code, err = run_cli_inprocess([verb, str(run)])
    assert code == 2 and "symbolic link" in err, err
    assert sorted(p.name for p in outside.iterdir()) == ["metrics.json"]
    assert (outside / "metrics.json").read_text() == "keep"


def test_linked_output_file_is_replaced_not_followed(run_dir, tmp_path):
    run = shutil.copytree(run_dir, tmp_path / "r")
    outside = tmp_path / "outside.json"
    outside.write_text("keep")
    (run / "evaluation").mkdir()
    (run / "evaluation" / "metrics.json").symlink_to(outside)
    code, err = run_cli_inprocess(["evaluate", str(run)])
    assert code == 0, err
    assert outside.read_text() == "keep" and not (run / "evaluation" / "metrics.json").is_symlink()
