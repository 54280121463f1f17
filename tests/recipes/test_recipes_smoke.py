"""Every recipe runs: a smoke run (one epoch of a few batches, stand-in images where the data
is absent) so no recipe goes stale."""

import pytest

from cnnlab.recipes import get_recipe, recipe_names
from cnnlab.train import fit
from cnnlab.train.config import load_config

RECIPES = [get_recipe(name).path for name in recipe_names()]
# Transfer recipes run ImageNet-sized backbones (VGG16, ResNet-18, EfficientNet) at 150–224 px:
# 30–70 s each on a shared CPU even as smoke runs, so they are in the slow set; the transfer
# code path itself is smoke-tested fast in tests/transfer.
RECIPE_PARAMS = [pytest.param(p, marks=[pytest.mark.slow] if "\nweights:" in p.read_text() else [], id=p.stem)
                 for p in RECIPES]


def test_there_are_recipes():
    assert len(RECIPES) >= 7


@pytest.mark.parametrize("recipe", RECIPE_PARAMS)
def test_recipe_smoke(recipe, tmp_path, monkeypatch, mnist_root_or_none):
    if mnist_root_or_none is not None:
        monkeypatch.setenv("CNNLAB_DATA", str(mnist_root_or_none))
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")  # transfer recipes: no download attempts for ImageNet weights
    monkeypatch.chdir(tmp_path)  # relative data folders (data/cats_and_dogs_small) are absent here
    cfg = load_config(recipe)
    r = fit(recipe, smoke=True, quiet=True, project=tmp_path / "runs", name=None)
    assert r.history and len(r.history) == 1
    # test_acc is a count of right answers over the test split's size: a whole number of images
    n = r.metrics["data"]["splits"]["test"]
    correct = r.metrics["test_acc"] * n
    assert n > 0 and 0 <= correct <= n and abs(correct - round(correct)) < 1e-6, (r.metrics["test_acc"], n)
    assert r.metrics["test_loss"] == r.metrics["test_loss"] and r.metrics["status"] == "finished"
    assert r.config.model == cfg.model
