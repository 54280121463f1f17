"""Your data: fit on torchvision ImageFolder objects, on Datasets of transformed tensors, on
DataLoaders and on a load_data() bundle; the run records what it can, and the verbs that
need the data again say when they cannot rebuild it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset
from torchvision.datasets import ImageFolder
from torchvision.transforms import ToTensor

from cnnlab.errors import ConfigError, DataError
from cnnlab.evaluate import evaluate, predict
from cnnlab.train import fit
from image_files import blob_image, save_image

MODEL = "spec:conv8k3p1 relu maxpool2 conv16k3p1 relu gap fc2"


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """photos/{train,val,test}/{dark,bright}: brightness is the class (16×16 RGB PNGs)."""
    root = tmp_path_factory.mktemp("photos")
    for s, (split, n) in enumerate((("train", 30), ("val", 10), ("test", 10))):
        for ci, name in enumerate(("bright", "dark")):
            for i in range(n):
                save_image(root / split / name / f"{i}.png", blob_image(16, 10_000 * s + 1000 * ci + i, bright=ci == 0))
    return root


def test_fit_on_imagefolder_objects(photos, tmp_path):
    data = tuple(ImageFolder(str(photos / split)) for split in ("train", "val", "test"))
    r = fit(data=data, model=MODEL, epochs=4, lr=0.01, quiet=True, project=tmp_path, name="folders", report=False)
    assert r.class_names == ["bright", "dark"]
    assert r.metrics["test_acc"] >= 0.9
    # three ImageFolders as train/val/test of one folder: the run records that folder, so every
    # later verb rebuilds the data from the run alone
    assert r.config.data.source == str(photos)
    assert evaluate(r.run_dir).accuracy >= 0.9


def test_fit_on_datasets_of_tensors_and_on_dataloaders(photos, tmp_path):
    data = tuple(ImageFolder(str(photos / split), transform=ToTensor()) for split in ("train", "val"))
    r = fit(data=data, model=MODEL, epochs=4, lr=0.01, batch_size=8, quiet=True, project=tmp_path, name="tensors", report=False)
    assert r.history[-1]["val_acc"] >= 0.9
    assert r.config.data.source.startswith("<python objects")
    # the model saw ToTensor's [0, 1] images; predicting a file prepares it the same way
    rows = predict(r.run_dir, [photos / "test" / "dark" / "0.png"])
    assert rows[0].top[0][0] == "dark"
    with pytest.raises(DataError, match="fit\\(data=...\\).*cannot be loaded again"):
        evaluate(r.run_dir)

    loaders = tuple(DataLoader(d, batch_size=8, shuffle=i == 0) for i, d in enumerate(data))
    r = fit(data=loaders, model=MODEL, epochs=4, lr=0.01, quiet=True, project=tmp_path, name="loaders",
            report=False)
    assert r.history[-1]["val_acc"] >= 0.9


def test_datasets_without_classes_need_class_names(tmp_path):
    x = torch.rand(40, 1, 8, 8)
    y = (x.mean((1, 2, 3)) > 0.5).long()
    train, val = TensorDataset(x[:30], y[:30]), TensorDataset(x[30:], y[30:])
    with pytest.raises(ConfigError, match="class_names"):
        fit(data=(train, val), model=MODEL, epochs=1, quiet=True, project=tmp_path, report=False)
    r = fit(data=(train, val), class_names=["low", "high"], model=MODEL, epochs=1, quiet=True, project=tmp_path,
            report=False)
    assert r.class_names == ["low", "high"]


def test_fit_on_a_load_data_bundle(tmp_path):
    from cnnlab.data import load_data

    bundle = load_data("digits", limit=200)
    r = fit(data=bundle, model="mnist-tiny", epochs=1, quiet=True, project=tmp_path, report=False)
    assert r.config.data.source == "digits" and r.config.data.limit == 200
    assert r.metrics["data"]["splits"]["train"] == len(bundle.train)
