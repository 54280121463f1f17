"""Issue 19 items 4 and 13: config files and options that once ended in a traceback, a
MemoryError or a silent acceptance; each now gets exit 2 and one line naming the file or field."""

from __future__ import annotations

import os

import pytest

from reliability.matrix import run_cli_inprocess


def _alias_bomb(levels: int = 40) -> str:
    lines = ["data: {source: digits}", "model_kwargs:", "  x0: &a0 [1]"]
    lines += [f"  x{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


CONFIGS = {
    # name: (file contents, text the one-line error must contain)
    "alias bomb": (_alias_bomb(), "alias"),
    "self-referencing alias": ("data: {source: digits}\nmodel_kwargs: &a {x: *a}\n", "refers to itself"),
    "deep nesting": ("data: {source: digits}\nepochs: " + "[" * 5000 + "]" * 5000 + "\n", "nested"),
    "5000-digit number": ("data: {source: digits}\nepochs: " + "9" * 5000 + "\n", "cannot be read"),
    "NUL in name": ('data: {source: digits}\nname: "a\\0b"\n', "name"),
    "300-character name": ("data: {source: digits}\nname: " + "a" * 300 + "\n", "name"),
    "negative seed": ("data: {source: digits}\nseed: -1\n", "seed"),
    "huge seed": ("data: {source: digits}\nseed: 99999999999999999999999\n", "seed"),
    "huge batch size": ("data: {source: digits}\nbatch_size: 99999999999999\n", "batch_size"),
    "zero class weights": ("data: {source: digits}\nclass_weights: [0,0,0,0,0,0,0,0,0,0]\n", "class_weights"),
    "NaN split": ("data: {source: digits, split: [.nan, .nan, .nan]}\n", "split"),
    "NaN lr": ("data: {source: digits}\nlr: .nan\n", "lr"),
    "inf warmup": ("data: {source: digits}\nwarmup_epochs: .inf\n", "warmup_epochs"),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_bad_config_file_exits_2_with_one_line(tmp_path, name):
    text, must = CONFIGS[name]
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    code, err = run_cli_inprocess(["train", "--config", str(cfg), "--project", str(tmp_path / "runs")])
    assert code == 2, err
    assert "Traceback" not in err and must in err, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.pt"))


def test_invalid_utf8_config_is_refused(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_bytes(b"data: {source: digits}\nname: \xff\xfe\n")
    code, err = run_cli_inprocess(["train", "--config", str(cfg), "--project", str(tmp_path / "runs")])
    assert code == 2 and "UTF-8" in err and str(cfg) in err, err


def test_config_that_is_a_fifo_is_refused_without_hanging(tmp_path):
    cfg = tmp_path / "pipe.yaml"
    os.mkfifo(cfg)
    code, err = run_cli_inprocess(["train", "--config", str(cfg), "--project", str(tmp_path / "runs")])
    assert code == 2 and "FIFO" in err, err


def test_nan_options_on_the_command_line(tmp_path):
    code, err = run_cli_inprocess(["train", "--data", "digits", "--lr", "nan", "--project", str(tmp_path)])
    assert code == 2 and "lr" in err, err


def test_a_recipe_with_anchors_still_loads(tmp_path):
    # Aliases themselves are fine: only their expansion is capped.
    from cnnlab.config_io import read_yaml

    cfg = tmp_path / "ok.yaml"
    cfg.write_text("sizes: &s [512, 256]\nhead: *s\ndata: {source: digits}\n")
    assert read_yaml(cfg)["head"] == [512, 256]
