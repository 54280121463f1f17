"""End to end: train_digits learns the 8×8 digits, and `cnnlab scratch train` runs it."""

import numpy as np
import pytest
from typer.testing import CliRunner

from cnnlab import cli
from cnnlab.errors import ConfigError
from cnnlab.scratch import train_digits
from cnnlab.scratch.train import load_digits_split


def test_train_digits_reaches_95_percent():
    lines = []
    result = train_digits(seed=0, log=lines.append)
    assert result.test_accuracy >= 0.95
    assert len(result.history) == 10 and len(lines) == 10
    assert lines[0].startswith("epoch   1/10  loss ")
    assert result.history[-1].loss < result.history[0].loss
    assert result.test_accuracy == result.history[-1].test_accuracy


def test_split_is_stratified_and_held_out():
    x_train, y_train, x_test, y_test = load_digits_split(test_size=0.25, seed=0)
    assert x_train.shape[1:] == (1, 8, 8) and len(x_train) + len(x_test) == 1797
    assert len(x_test) == 450
    # stratified: every class keeps its share of the test set (within one image)
    train_share = np.bincount(y_train) / len(y_train)
    test_share = np.bincount(y_test) / len(y_test)
    assert np.abs(train_share - test_share).max() < 1.5 / len(y_test)


def test_same_seed_same_numbers():
    a = train_digits(epochs=1, seed=3, log=None)
    b = train_digits(epochs=1, seed=3, log=None)
    assert a.history[0].loss == b.history[0].loss
    assert a.test_accuracy == b.test_accuracy


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match=r"epochs = 0 must be ≥ 1; lr = -1\.0 must be > 0"):
        train_digits(epochs=0, lr=-1.0, log=None)


def test_cli_scratch_train_prints_each_epoch():
    result = CliRunner().invoke(cli.app, ["scratch", "train", "--epochs", "2", "--lr", "0.02",
                                          "--batch-size", "64", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "epoch   1/2" in result.output and "epoch   2/2" in result.output
    assert "test accuracy" in result.output


def test_cli_bad_option_exits_2_with_message(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["scratch", "train", "--epochs", "0"])
    assert exit_info.value.code == 2
    assert "epochs = 0 must be ≥ 1" in capsys.readouterr().err
