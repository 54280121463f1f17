"""Issue 19 items 18-20 and issue 21 item 9: --resume against an edited config.yaml, a run that
is still training, a run killed before its first checkpoint, and a run that already finished."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from cnnlab.errors import CheckpointError, ConfigError
from cnnlab.run.checkpoint import load_checkpoint
from cnnlab.train import fit
from reliability.matrix import run_cli_inprocess

QUICK = dict(data="digits", model="mnist-tiny", limit=200, batch_size=32, quiet=True, report=False,
             evaluate_test=False)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    return fit(epochs=2, project=tmp_path_factory.mktemp("runs"), name="done", **QUICK).run_dir


def _copy(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / run.name))


def test_resume_refuses_an_edited_config_naming_the_fields(finished, tmp_path):
    run = _copy(finished, tmp_path)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg.update(model="keras-mnist", lr=0.5, epochs=4)
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    before = (run / "config.yaml").read_text()
    with pytest.raises(ConfigError, match=r"model: 'mnist-tiny' → 'keras-mnist'.*lr: 0.001 → 0.5"):
        fit(resume=run, quiet=True)
    assert (run / "config.yaml").read_text() == before  # never written over


def test_resume_honours_more_epochs_in_an_edited_config(finished, tmp_path):
    run = _copy(finished, tmp_path)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["epochs"] = 3
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    result = fit(resume=run, quiet=True)
    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    assert yaml.safe_load((run / "config.yaml").read_text())["epochs"] == 3


def test_resume_of_a_finished_run_does_nothing(finished, tmp_path, capsys):
    run = _copy(finished, tmp_path)
    stamps = {p.name: p.stat().st_mtime_ns for p in run.iterdir() if p.is_file()}
    code, _ = run_cli_inprocess(["train", "--resume", str(run)])
    assert code == 0
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir() if p.is_file()} == stamps
    result = fit(resume=run)
    assert result.already_finished and "finished (2 of 2 epochs)" in " ".join(capsys.readouterr().out.split())
    assert load_checkpoint(run / "last.pt")["epoch"] == 2


def test_resume_of_a_finished_run_continues_with_more_epochs(finished, tmp_path):
    run = _copy(finished, tmp_path)
    result = fit(resume=run, epochs=3, quiet=True)
    assert not result.already_finished and len(result.history) == 3


def test_resume_before_the_first_checkpoint_starts_again_in_the_folder(finished, tmp_path):
    run = _copy(finished, tmp_path)
    for name in ("best.pt", "last.pt", "history.csv", "metrics.json", "curves.png"):
        (run / name).unlink()  # what a kill during epoch 1 leaves: config.yaml and data.yaml
    result = fit(resume=run, quiet=True)
    assert result.run_dir == run and len(result.history) == 2
    assert load_checkpoint(run / "last.pt")["epoch"] == 2


def test_resume_of_an_empty_folder_names_what_is_missing(tmp_path):
    (tmp_path / "k1").mkdir()
    code, err = run_cli_inprocess(["train", "--resume", str(tmp_path / "k1")])
    assert code == 2 and "nothing to resume" in err and "config.yaml" in err, err


def test_resume_of_a_run_still_training_is_refused(finished, tmp_path):
    import cnnlab

    run = _copy(finished, tmp_path)
    env = dict(os.environ, PYTHONPATH=str(Path(cnnlab.__file__).resolve().parents[1]), OMP_NUM_THREADS="1")
    live = subprocess.Popen([sys.executable, "-m", "cnnlab", "train", "--resume", str(run), "--epochs", "400",
                             "-q"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while not (run / ".train.lock").exists() and time.time() < deadline and live.poll() is None:
            time.sleep(0.2)
        assert live.poll() is None, live.stderr.read().decode()[-500:]
        with pytest.raises(CheckpointError, match="another trainer"):
            fit(resume=run, epochs=400, quiet=True)
        code, err = run_cli_inprocess(["train", "--data", "digits", "--project", str(tmp_path), "--name", run.name,
                                       "--epochs", "1"])
        # a new run with a taken name goes to done2 (the folder is not empty): never into the live one
        assert code == 0 or "another trainer" in err, err
    finally:
        live.kill()
        live.wait()
    # the lock died with the process: the run resumes again
    assert fit(resume=run, epochs=3, quiet=True).history
