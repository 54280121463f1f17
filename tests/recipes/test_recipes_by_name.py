"""Recipes ship inside the package and are found by name: `cnnlab recipes`, `cnnlab recipes
show NAME`, and `--config NAME` from any folder, also from a plain (non-editable) install."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cnnlab.cli import app, main
from cnnlab.errors import ConfigError
from cnnlab.recipes import find_config, get_recipe, recipe_names
from cnnlab.train.config import load_config

REPO = Path(__file__).resolve().parents[2]


def test_recipes_lists_one_line_each():
    result = CliRunner().invoke(app, ["recipes"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert [line.split()[0] for line in lines] == recipe_names()
    keras = next(line for line in lines if line.startswith("keras-mnist"))
    assert "keras-mnist on mnist" in keras  # model on data, then the header's first sentence


def test_recipes_show_prints_the_yaml():
    result = CliRunner().invoke(app, ["recipes", "show", "keras-mnist"])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.output)["model"] == "keras-mnist"


def test_unknown_recipe_suggests_the_closest(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["recipes", "show", "keras-mnst"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "keras-mnist" in err and "Traceback" not in err
    with pytest.raises(ConfigError, match="did you mean.*keras-mnist"):
        load_config("keras-mnst")


def test_a_file_of_that_name_wins_over_the_recipe(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keras-mnist").write_text("model: mnist-tiny\nepochs: 2\n")
    assert find_config("keras-mnist") == Path("keras-mnist")
    assert load_config("keras-mnist").epochs == 2
    # the old checkout spelling still finds the packaged recipe
    assert find_config("recipes/keras-mnist.yaml") == get_recipe("keras-mnist").path


@pytest.mark.slow  # builds a wheel (≈ 20 s) and runs a smoke training from it
def test_config_by_name_after_a_plain_install(tmp_path):
    """`pip install .` (a wheel, not editable) has the recipes, and `--config keras-mnist` runs
    from a folder outside the checkout."""
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheels), str(REPO)], check=True, cwd=tmp_path, timeout=300)
    wheel = next(wheels.glob("cnnlab-*.whl"))
    shipped = {Path(n).name for n in zipfile.ZipFile(wheel).namelist() if "/recipes/" in n}
    assert {f"{name}.yaml" for name in recipe_names()} <= shipped
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(site), OMP_NUM_THREADS="1", CNNLAB_OFFLINE="1")
    run = subprocess.run([sys.executable, "-m", "cnnlab", "train", "--config", "keras-mnist", "--smoke",
                          "--name", "from-wheel", "--no-report"], cwd=elsewhere, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert (elsewhere / "runs" / "from-wheel" / "config.yaml").is_file()
    assert yaml.safe_load((elsewhere / "runs" / "from-wheel" / "config.yaml").read_text())["model"] == "keras-mnist"
