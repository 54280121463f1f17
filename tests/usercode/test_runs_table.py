"""`cnnlab runs DIR`: a table of three runs, sortable, as csv and json; a garbled file or an
unfinished run leaves cells empty instead of failing the listing."""

from __future__ import annotations

import csv
import io
import json

import pytest

from cnnlab.cli import main
from cnnlab.errors import ConfigError
from cnnlab.run.listing import list_runs
from cnnlab.train import fit


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    project = tmp_path_factory.mktemp("runs")
    for name, model, epochs in (("tiny", "mnist-tiny", 2), ("tutorial", "mnist-tutorial", 1), ("keras", "keras-mnist", 1)):
        fit(data="digits", model=model, epochs=epochs, limit=120, quiet=True, project=project, name=name, report=False)
    return project


def run_cli(capsys, *args):
    with pytest.raises(SystemExit) as done:
        main(["runs", *args])
    assert done.value.code in (0, None)
    return capsys.readouterr().out


def test_the_table_of_three_runs(three_runs, capsys, monkeypatch):
    from cnnlab.cli.console import console

    monkeypatch.setattr(console, "width", 150)  # a terminal wide enough that no cell wraps
    out = run_cli(capsys, str(three_runs))
    assert "3 run(s)" in out
    for header in ("name", "model", "data", "epochs", "val acc", "val loss", "test acc", "wall", "status"):
        assert header in out
    for name, model in (("tiny", "mnist-tiny"), ("tutorial", "mnist-tutorial"), ("keras", "keras-mnist")):
        line = next(line for line in out.splitlines() if f" {name} " in line)
        assert model in line and "digits" in line and "finished" in line
    assert "2/2" in out  # epochs done / planned


def test_sorted_csv_and_json(three_runs, capsys):
    rows = list(csv.DictReader(io.StringIO(run_cli(capsys, str(three_runs), "--sort", "test_acc", "--format", "csv"))))
    accs = [float(r["test_acc"]) for r in rows]
    assert accs == sorted(accs, reverse=True) and len(rows) == 3  # best first
    data = json.loads(run_cli(capsys, str(three_runs), "--format", "json"))
    assert [r["name"] for r in data] == ["keras", "tiny", "tutorial"]
    assert all(r["wall_s"] is not None and r["wall_s"] >= 0 for r in data)
    with pytest.raises(ConfigError, match="sort"):
        list_runs(three_runs, sort="accuracy")


def test_unfinished_and_garbled_runs_are_listed(three_runs, tmp_path):
    import shutil

    project = tmp_path / "runs"
    shutil.copytree(three_runs, project)
    (project / "tiny" / "metrics.json").write_text("{not json")
    (project / "tiny" / "history.csv").write_text("epoch,val_acc\nx,y\n")
    (project / "notes").mkdir()  # not a run folder: skipped
    rows = {r["name"]: r for r in list_runs(project)}
    assert set(rows) == {"tiny", "tutorial", "keras"}
    assert rows["tiny"]["status"] == "unreadable metrics" and rows["tiny"]["best_val_acc"] is None
    assert rows["keras"]["status"] == "finished"
