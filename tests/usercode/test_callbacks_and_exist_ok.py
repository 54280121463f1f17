"""fit(callbacks=[...]) in the Keras/Lightning shape: called per batch, per epoch and at the end
with the history so far, and able to stop training; --exist-ok reuses a run name deliberately."""

from __future__ import annotations

import pytest

from cnnlab.cli import main
from cnnlab.errors import ConfigError
from cnnlab.run.listing import list_runs
from cnnlab.train import fit
from cnnlab.train.callbacks import Callback


class Recorder(Callback):
    def __init__(self, stop_after_epoch: int | None = None, stop_after_batch: int | None = None):
        self.calls: list[tuple] = []
        self.stop_after_epoch, self.stop_after_batch = stop_after_epoch, stop_after_batch

    def on_batch_end(self, state):
        self.calls.append(("batch", state.epoch, state.batch, state.loss))
        if self.stop_after_batch is not None and state.batch >= self.stop_after_batch:
            state.stop_training = True

    def on_epoch_end(self, state):
        self.calls.append(("epoch", state.epoch, len(state.history), state.history[-1]["val_acc"]))
        if self.stop_after_epoch is not None and state.epoch >= self.stop_after_epoch:
            state.stop_training = True

    def on_fit_end(self, state):
        self.calls.append(("end", state.metrics["status"], len(state.history)))


def test_callbacks_see_the_history_and_stop_training(tmp_path):
    rec = Recorder(stop_after_epoch=2)
    r = fit(data="digits", model="mnist-tiny", epochs=10, limit=200, batch_size=50, quiet=True, project=tmp_path,
            report=False, callbacks=[rec])
    epochs = [c for c in rec.calls if c[0] == "epoch"]
    assert [(e[1], e[2]) for e in epochs] == [(1, 1), (2, 2)]  # the history so far, one row per epoch
    assert len(r.history) == 2 and r.stopped_early and r.metrics["stopped_early"]
    batches = [c for c in rec.calls if c[0] == "batch" and c[1] == 1]
    assert [b[2] for b in batches] == [1, 2, 3, 4] and all(b[3] > 0 for b in batches)  # 200 images / 50
    assert rec.calls[-1] == ("end", "finished", 2)


def test_a_batch_callback_can_stop_mid_epoch(tmp_path):
    rec = Recorder(stop_after_batch=2)
    r = fit(data="digits", model="mnist-tiny", epochs=5, limit=200, batch_size=50, quiet=True, project=tmp_path,
            report=False, callbacks=[rec])
    assert len(r.history) == 1
    assert [c[2] for c in rec.calls if c[0] == "batch"] == [1, 2]


def test_not_a_callback_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="on_epoch_end"):
        fit(data="digits", epochs=1, quiet=True, project=tmp_path, callbacks=[print])


def test_exist_ok_reuses_the_name(tmp_path, capsys):
    project = tmp_path / "runs"
    args = ["train", "--data", "digits", "--model", "mnist-tiny", "--limit", "100", "--epochs", "1", "--quiet",
            "--no-report", "--project", str(project), "--name", "same"]
    for extra in ([], [], ["--exist-ok"]):
        with pytest.raises(SystemExit) as done:
            main(args + extra)
        assert done.value.code in (0, None)
    # the second run got same2; the third, with --exist-ok, replaced "same" instead of making same3
    assert sorted(p.name for p in project.iterdir()) == ["same", "same2"]
    (project / "same" / "notes.txt").write_text("mine")
    (project / "same" / "evaluation").mkdir()
    (project / "same" / "evaluation" / "metrics.json").write_text("{}")
    r = fit(data="digits", model="mnist-tiny", limit=100, epochs=2, quiet=True, project=project, name="same",
            exist_ok=True, report=False)
    assert r.run_dir == project / "same" and len(r.history) == 2
    assert not (project / "same" / "evaluation").exists()  # the old run's outputs are gone
    assert (project / "same" / "notes.txt").read_text() == "mine"  # files that are not a run's stay
    assert {row["name"]: row["epochs"] for row in list_runs(project)}["same"] == 2
