"""`Run`: a run folder, a checkpoint or a model in memory, as one object."""

from __future__ import annotations

import os
import shutil

import pytest

from cnnlab.errors import CheckpointError, DataError
from cnnlab.evaluate import evaluate
from cnnlab.run import Run
from cnnlab.run.checkpoint import load_model


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """mnist-tiny on 300 digits: the 8×8 digits are resolved to the model's 28×28 at train time."""
    from cnnlab.train import fit

    return fit(data="digits", model="mnist-tiny", limit=300, epochs=1, batch_size=32, quiet=True,
               project=tmp_path_factory.mktemp("runs"), name="r").run_dir


@pytest.fixture
def run_copy(trained, tmp_path):
    shutil.copytree(trained, tmp_path / "r")
    return tmp_path / "r"


def test_open_a_folder_a_checkpoint_a_model_or_a_run(trained):
    run = Run.open(trained)
    assert run.folder == trained and run.checkpoint_path == trained / "best.pt" and run.name == "r"
    assert Run.open(run) is run
    last = Run.open(trained / "last.pt")
    assert last.folder == trained and last.checkpoint_path.name == "last.pt" and last.name == "r"
    loaded = load_model(trained)
    in_memory = Run.open(loaded)
    assert in_memory.model() is loaded and in_memory.folder == trained  # it keeps its run folder
    with pytest.raises(CheckpointError, match="no such run folder"):
        Run.open(trained / "missing")


def test_model_and_data_are_loaded_once(trained):
    run = Run.open(trained)
    assert run.model() is run.model()
    data = run.data()
    assert run.data() is data and data.input_size == (28, 28)
    assert run.data(limit=50) is not data  # other settings: loaded afresh


def test_data_settings_come_from_data_yaml(run_copy):
    """The resolved settings were saved at train time; without data.yaml (older runs) they are
    resolved again from config.yaml, else from the checkpoint's own config: the same answer."""
    saved = Run.open(run_copy).data_config()
    assert saved.image_size == (28, 28) and saved.limit == 300
    (run_copy / "data.yaml").unlink()
    assert Run.open(run_copy).data_config() == saved
    (run_copy / "config.yaml").unlink()
    assert Run.open(run_copy).data_config() == saved


def test_an_edited_config_yaml_wins_over_data_yaml(run_copy, tmp_path):
    config = (run_copy / "config.yaml").read_text()
    (run_copy / "config.yaml").write_text(config.replace("source: digits", f"source: {tmp_path / 'moved'}"))
    assert Run.open(run_copy).data_config().source == str(tmp_path / "moved")
    with pytest.raises(DataError, match="moved"):
        Run.open(run_copy).data()


def test_a_model_in_memory_has_no_files(trained):
    loaded = load_model(trained)
    run = Run.open(type(loaded)(loaded.model, loaded.class_names, loaded.preprocessing, {}, {}, None))
    assert run.folder is None and run.metrics() == {} and run.history() == []
    with pytest.raises(DataError, match="data is unknown"):
        run.data_config()
    with pytest.raises(CheckpointError, match="no run folder"):
        run.output_path("evaluation")


def test_metrics_and_history(trained):
    run = Run.open(trained)
    assert run.metrics()["status"] == "finished" and "test_acc" in run.metrics()
    assert [h["epoch"] for h in run.history()] == [1]
    assert "model: mnist-tiny" in run.config_text()


def test_outputs_never_go_through_a_symlink(run_copy, tmp_path):
    """A link planted in a run folder does not redirect a verb's writes out of it."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, run_copy / "evaluation")
    run = Run.open(run_copy)
    with pytest.raises(CheckpointError, match="symbolic link"):
        run.evaluation_dir
    with pytest.raises(CheckpointError, match="symbolic link"):
        evaluate(run)
    with pytest.raises(CheckpointError, match="outside the run folder"):
        run.output_path("../x")
    assert not any(elsewhere.iterdir())
    assert run.export_dir == run_copy / "export" and run.report_path == run_copy / "report.html"
