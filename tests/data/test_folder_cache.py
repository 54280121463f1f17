"""A photo folder that fits in memory is decoded and resized once, then kept as uint8 (as MNIST
is); training epochs index that tensor, and augmentation is still drawn afresh each epoch."""

from __future__ import annotations

import torch
from image_files import make_class_folder

import cnnlab.data.folders as folders
import cnnlab.data.images as images
import cnnlab.data.loaders as loaders
from cnnlab.data import load_data
from cnnlab.data.augment import resolve_augment


def _count_decodes(monkeypatch) -> list[str]:
    calls: list[str] = []
    real_decode, real_read = images.decode_image, images.read_image

    def decode(data, path="<bytes>", *a, **kw):
        calls.append(str(path))
        return real_decode(data, path, *a, **kw)

    def read(path, *a, **kw):
        calls.append(str(path))
        return real_read(path, *a, **kw)

    monkeypatch.setattr(folders, "decode_image", decode)
    monkeypatch.setattr(loaders, "read_image", read)
    return calls


def test_folder_is_decoded_once_and_augmented_afresh_each_epoch(tmp_path, monkeypatch):
    make_class_folder(tmp_path / "pets", per_class=15, size=40, ext=".jpg")
    calls = _count_decodes(monkeypatch)
    data = load_data(tmp_path / "pets", image_size=24, split=(0.6, 0.2, 0.2))
    assert sorted(calls) == sorted(str(p) for p in (tmp_path / "pets").rglob("*.jpg"))  # each file once
    assert data.train.in_memory and data.train.images.dtype == torch.uint8
    assert tuple(data.train.images.shape[1:]) == (3, 24, 24)  # kept resized, not at 40×40

    loader = data.loader("train", 8, shuffle=True, augment=resolve_augment("light"), seed=0)
    epochs = {}
    for epoch in (1, 2, 1):
        loader.set_epoch(epoch)
        batches = list(loader)
        if epoch in epochs:  # the same epoch replays exactly (resume)
            assert all(torch.equal(a, b) for (a, _), (b, _) in zip(epochs[epoch], batches))
        epochs[epoch] = batches
    assert len(calls) == 30  # three epochs later: not one file decoded again
    first, second = torch.cat([x for x, _ in epochs[1]]), torch.cat([x for x, _ in epochs[2]])
    assert not torch.equal(first, second)  # order and augmentation differ between epochs


def test_folder_over_the_memory_cap_streams_from_disk(tmp_path, monkeypatch):
    make_class_folder(tmp_path / "pets", per_class=6, size=20)
    monkeypatch.setattr("cnnlab.data.bundle.DEFAULT_MEMORY_LIMIT", 100)  # bytes: nothing fits
    data = load_data(tmp_path / "pets", split=(0.5, 0.5, 0.0))
    assert not data.train.in_memory
    x, y = next(iter(data.loader("train", 4)))
    assert x.shape == (4, 3, 20, 20) and y.shape == (4,)
