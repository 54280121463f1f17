"""`cnnlab models` and `cnnlab summary`."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cnnlab.cli import app, main
from cnnlab.errors import ModelError
from cnnlab.models import list_models

runner = CliRunner()


def test_models_lists_every_preset_and_the_prefixes():
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    for name in list_models():
        assert name in result.output
    for prefix in ("spec:<pattern>", "torchvision:<name>", "timm:<name>"):
        assert prefix in result.output
    assert "3×150×150" in result.output


def test_models_filter():
    result = runner.invoke(app, ["models", "--filter", "keras"])
    assert result.exit_code == 0
    assert "keras-mnist" in result.output and "keras-catsdogs" in result.output
    assert "vgg16" not in result.output
    assert "no preset matches" in runner.invoke(app, ["models", "--filter", "zzz"]).output


def test_summary_vgg16_prints_the_table():
    result = runner.invoke(app, ["summary", "vgg16", "--input", "3x224x224"])
    assert result.exit_code == 0, result.output
    out = result.output
    for text in ("features.0", "64×224×224", "3,211,264", "1,728", "102,760,448",
                 "138,357,544", "adam state", "batch 1"):
        assert text in out


def test_summary_options_reach_the_estimate():
    result = runner.invoke(app, ["summary", "mnist-tiny", "--batch-size", "64", "--optimizer",
                                 "sgd", "--num-classes", "4"])
    assert result.exit_code == 0, result.output
    assert "batch 64" in result.output and "sgd state" in result.output
    assert "4,388" in result.output  # 9,098 - (784*10 + 10) + (784*4 + 4)
    spec = runner.invoke(app, ["summary", "spec:conv8k3 relu maxpool2 fc", "--input", "3x32x32"])
    assert spec.exit_code == 0 and "pool1" in spec.output


def test_bad_input_text_is_a_model_error_and_exit_code_2(capsys):
    result = runner.invoke(app, ["summary", "vgg16", "--input", "3x224"])
    assert isinstance(result.exception, ModelError)
    with pytest.raises(SystemExit) as exit_info:
        main(["summary", "vgg16", "--input", "3x224"])
    assert exit_info.value.code == 2
    assert "expected C×H×W" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["summary", "vgg61"])
    assert exit_info.value.code == 2
    assert "did you mean: vgg16" in capsys.readouterr().err
