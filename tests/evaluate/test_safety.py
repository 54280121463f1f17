"""Unsafe or mismatched checkpoints are refused with a clear error before any code runs."""

from __future__ import annotations

import shutil

import pytest
import torch

from cnnlab.cli import main
from cnnlab.errors import CheckpointError
from cnnlab.evaluate import evaluate, export, predict
from cnnlab.run.checkpoint import load_checkpoint, save_checkpoint


class CreatesAFile:
    """Unpickling this calls open(marker, "w"): a stand-in for any code a malicious file runs."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture()
def malicious_run(digit_run, tmp_path):
    """A run folder whose best.pt carries the payload beside real weights."""
    run = tmp_path / "evil"
    shutil.copytree(digit_run, run, ignore=shutil.ignore_patterns("evaluation*", "export"))
    state = load_checkpoint(digit_run)
    marker = tmp_path / "pwned"
    torch.save({**state, "payload": CreatesAFile(marker)}, run / "best.pt")
    return run, marker


def test_malicious_pickle_is_refused_by_evaluate_predict_and_export(malicious_run, tmp_path):
    run, marker = malicious_run
    for call in (lambda: evaluate(run, out=tmp_path / "ev"), lambda: predict(run, [run / "curves.png"]),
                 lambda: export(run, out=tmp_path / "m.onnx")):
        with pytest.raises(CheckpointError, match="refused to load"):
            call()
    assert not marker.exists()
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", str(run)])
    assert exit_info.value.code == 2 and not marker.exists()
    # sanity: the payload is live, so the refusal above is what kept it from running
    torch.load(run / "best.pt", weights_only=False)
    assert marker.exists()


def test_class_count_and_architecture_mismatches_are_clear_errors(digit_run, tmp_path):
    state = load_checkpoint(digit_run)
    save_checkpoint({**state, "class_names": ["a", "b", "c"]}, tmp_path / "three.pt")
    with pytest.raises(CheckpointError, match="10 outputs but 3 class names"):
        evaluate(tmp_path / "three.pt", out=tmp_path / "ev")
    arch = {**state["architecture"], "num_classes": 5}
    save_checkpoint({**state, "architecture": arch, "class_names": list("abcde")}, tmp_path / "five.pt")
    with pytest.raises(CheckpointError, match="weights do not match the architecture"):
        predict(tmp_path / "five.pt", [digit_run / "curves.png"])
