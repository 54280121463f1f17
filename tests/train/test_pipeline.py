"""`cnnlab train` = fit → evaluate → report, sharing one model load and one data load."""

from __future__ import annotations

import sys

import pytest
import torch

import cnnlab.data.bundle
import cnnlab.evaluate.evaluation
import cnnlab.pipeline as pipeline
import cnnlab.report.build  # noqa: F401  (loaded before the counters go in)
import cnnlab.report.sections  # noqa: F401
from cnnlab.cli import main


def test_cnnlab_train_loads_checkpoint_and_data_once_after_training(tmp_path, monkeypatch):
    counting = {"on": False}
    counts = {"checkpoint": 0, "data": 0, "evaluate": 0}

    real_torch_load = torch.load

    def torch_load(f, *args, **kwargs):
        if counting["on"] and str(getattr(f, "name", f)).endswith(".pt"):  # a path or an open file
            counts["checkpoint"] += 1
        return real_torch_load(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", torch_load)

    # every module holding load_data gets the counting one (each imported it by name)
    real_load_data = cnnlab.data.bundle.load_data

    def load_data(*args, **kwargs):
        if counting["on"]:
            counts["data"] += 1
        return real_load_data(*args, **kwargs)

    for name, module in list(sys.modules.items()):
        if name.startswith("cnnlab") and getattr(module, "load_data", None) is real_load_data:
            monkeypatch.setattr(module, "load_data", load_data)

    real_evaluate = cnnlab.evaluate.evaluation.evaluate

    def evaluate(*args, **kwargs):
        counts["evaluate"] += 1
        return real_evaluate(*args, **kwargs)

    # the pipeline and the report both look it up in its module when they run (lazy imports)
    monkeypatch.setattr(cnnlab.evaluate.evaluation, "evaluate", evaluate)

    real_fit = pipeline.fit

    def fit_then_count(*args, **kwargs):
        result = real_fit(*args, **kwargs)
        counting["on"] = True  # from here on: evaluation and report
        return result

    monkeypatch.setattr(pipeline, "fit", fit_then_count)

    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", "digits", "--model", "mnist-tiny", "--limit", "300", "--epochs", "1",
              "--batch-size", "32", "--project", str(tmp_path), "--name", "once", "-q"])
    assert exit_info.value.code in (0, None)
    run = tmp_path / "once"
    assert (run / "report.html").is_file() and (run / "evaluation" / "metrics.json").is_file()
    assert counting["on"]
    assert counts == {"checkpoint": 1, "data": 1, "evaluate": 1}
    # the report shows that evaluation: its per-class table and confusion matrix are there
    html = (run / "report.html").read_text()
    assert "No per-class table" not in html and "No confusion matrix" not in html


def test_no_report_means_no_evaluation_either(tmp_path):
    """`--no-report` keeps its meaning: the run folder ends at training's files."""
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", "digits", "--model", "mnist-tiny", "--limit", "200", "--epochs", "1",
              "--project", str(tmp_path), "--name", "plain", "--no-report", "-q"])
    assert exit_info.value.code in (0, None)
    run = tmp_path / "plain"
    assert (run / "best.pt").is_file() and (run / "data.yaml").is_file()
    assert not (run / "report.html").exists() and not (run / "evaluation").exists()


def test_fit_alone_stops_at_the_run_folder(tmp_path):
    from cnnlab.train import fit

    r = fit(data="digits", model="mnist-tiny", limit=200, epochs=1, project=tmp_path, name="fit", quiet=True)
    assert {"config.yaml", "data.yaml", "history.csv", "best.pt", "last.pt", "curves.png", "metrics.json"} == \
        {p.name for p in r.run_dir.iterdir()}
    report = pipeline.evaluate_and_report(r.run_dir)  # what `cnnlab train` adds
    assert report == r.run_dir / "report.html" and (r.run_dir / "evaluation").is_dir()
