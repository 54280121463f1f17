"""The run report: one self-contained HTML file with every section of issue 9."""

from __future__ import annotations

import dataclasses
import re
import shutil

import pytest

from cnnlab.cli import main
from cnnlab.report import build_report
from cnnlab.report.build import write_run_report
from cnnlab.report.sections import model_section


@pytest.fixture(scope="module")
def report_html(trained_run, tmp_path_factory):
    path = build_report(trained_run, tmp_path_factory.mktemp("report") / "report.html")
    return path.read_text()


def test_report_is_self_contained(report_html):
    assert "<script" not in report_html and "<link" not in report_html and "@import" not in report_html
    assert not re.search(r"(src|href)=\"(https?:)?//", report_html)  # nothing fetched from anywhere
    sources = re.findall(r'<img src="([^"]+)"', report_html)
    assert len(sources) >= 2 and all(s.startswith("data:image/png;base64,") for s in sources)


def test_report_has_every_section(report_html, trained_run):
    for anchor in ("metrics", "config", "model", "training", "per-class", "confusion", "predictions",
                   "top-losses", "explain"):
        assert f'id="{anchor}"' in report_html
    assert "model: mnist-tiny" in report_html  # the config, verbatim
    assert ">9,098<" in report_html and "trainable" in report_html and "frozen" in report_html
    assert "conv1" in report_html and "Conv2d" in report_html  # the per-layer table
    assert report_html.count("<tr") >= 2 + 8  # per-epoch rows and layer rows
    assert "loss and accuracy per epoch" in report_html
    assert re.search(r"The first 24 test images: \d+ right", report_html)


def test_trainable_and_frozen_counts_follow_the_checkpoint(loaded):
    """A run that ended with conv1 frozen reports conv1's 80 parameters as frozen."""
    ckpt = dict(loaded.checkpoint, frozen={"phase": "head", "blocks": {"conv1": "frozen", "fc": "trainable"}})
    section = model_section(dataclasses.replace(loaded, checkpoint=ckpt))
    assert section["totals"]["frozen_params"] == 80 and section["totals"]["trainable_params"] == 9098 - 80
    assert section["frozen_blocks"] == ["conv1"]
    assert all(p.requires_grad for p in loaded.model.parameters())  # the shared model is left as it was


def test_cli_and_hook_write_report_html(trained_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(run)])
    assert exit_info.value.code in (0, None) and (run / "report.html").is_file()
    assert "report written to" in capsys.readouterr().out
    (run / "report.html").unlink()
    assert write_run_report(run) == run / "report.html" and (run / "report.html").is_file()


def test_hook_never_fails_a_run(tmp_path):
    with pytest.warns(RuntimeWarning, match="report.html not written"):
        assert write_run_report(tmp_path / "missing") is None
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(tmp_path / "missing")])
    assert exit_info.value.code == 2


def test_report_says_when_the_data_is_elsewhere(trained_run, tmp_path):
    """A run copied to a machine without its data still gets a report, with a note where the images were."""
    run = tmp_path / "moved"
    shutil.copytree(trained_run, run)
    config = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(config.replace("source: digits", f"source: {tmp_path / 'gone'}"))
    html = build_report(run).read_text()
    assert "test images unavailable here" in html and "gone" in html
    assert ">9,098<" in html  # the rest of the report is there


def test_report_includes_the_evaluation(trained_run, tmp_path):
    pytest.importorskip("cnnlab.evaluate", reason="needs cnnlab.evaluate")
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    html = build_report(run).read_text()
    assert (run / "evaluation" / "metrics.json").is_file()  # evaluate() ran because it was missing
    assert "No confusion matrix" not in html and "No top-loss gallery" not in html
    assert "No per-class table" not in html and "precision" in html


def test_report_includes_gradcam_and_feature_maps(report_html):
    pytest.importorskip("cnnlab.explain", reason="needs cnnlab.explain")
    assert "Grad-CAM overlay" in report_html and "feature maps of conv1" in report_html
