"""ImageNet weights that ship in a package, mapped onto timm by structure, proved on real photos."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnlab.errors import ModelError
from cnnlab.inference import predict_proba, top_k
from cnnlab.models import build_model
from cnnlab.models.pretrained import load_pretrained
from cnnlab.models.pretrained_weights import (efficientnet_lite0_file, efficientnet_pytorch_to_timm,
                                              imagenet_class_names)


@pytest.fixture(scope="module")
def imagenet_model():
    return load_pretrained("efficientnet_lite0")


def test_key_mapping_loads_every_tensor_strictly():
    raw = torch.load(efficientnet_lite0_file(), map_location="cpu", weights_only=True)
    mapped = efficientnet_pytorch_to_timm(raw)
    model = build_model("efficientnet_lite0")
    result = model.load_state_dict(mapped, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert len(mapped) == len(raw) == len(model.state_dict()) == 296
    # by name, not by shape: the expand BN (_bn0) and the depthwise BN (_bn1) of block 1 are
    # both 96 wide; each must land in its own place (timm bn1 = after expand, bn2 = after dw)
    block = model.blocks[1][0]
    assert torch.equal(block.bn1.running_mean, raw["_blocks.1._bn0.running_mean"])
    assert torch.equal(block.bn2.running_mean, raw["_blocks.1._bn1.running_mean"])
    assert not torch.equal(block.bn1.running_mean, block.bn2.running_mean)


def test_a_key_that_fits_no_rule_is_an_error():
    with pytest.raises(ModelError, match="_blocks.3._se_reduce.weight"):
        efficientnet_pytorch_to_timm({"_blocks.3._se_reduce.weight": torch.zeros(1)})


def _photos() -> dict[str, np.ndarray]:
    import skimage.data
    from sklearn.datasets import load_sample_images

    china, flower = load_sample_images().images
    return {"chelsea": skimage.data.chelsea(), "coffee": skimage.data.coffee(), "china": china, "flower": flower}


# What each photo shows, as ImageNet classes (any of them in the top 5 counts).
EXPECTED = {"chelsea": {"tabby", "tiger cat", "Egyptian cat"},
            "coffee": {"espresso", "cup", "coffee mug"},
            "china": {"palace", "monastery", "bell cote", "pagoda", "stupa"},
            "flower": {"daisy"}}


def test_shipped_photos_get_the_right_imagenet_class_in_the_top5(imagenet_model):
    photos = _photos()
    probs = predict_proba(imagenet_model, list(photos.values()))
    assert probs.shape == (4, 1000)
    for name, top in zip(photos, top_k(probs, imagenet_model.class_names, 5)):
        assert EXPECTED[name] & {c for c, _ in top}, (name, top)


def test_imagenet_class_names_and_preprocessing(imagenet_model):
    names = imagenet_class_names()
    assert len(names) == 1000 and names[0] == "tench" and names[281] == "tabby"
    assert imagenet_model.preprocessing.mean == (0.5, 0.5, 0.5) and imagenet_model.preprocessing.input_size == (224, 224)
    assert build_model("efficientnet_lite0", weights="imagenet").class_names == names


def test_weights_file_loads_everything_but_a_differently_sized_classifier(tmp_path):
    source = build_model("efficientnet_lite0", weights="imagenet")
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, tmp_path / "w.pth")
    model = build_model("efficientnet_lite0", num_classes=5, weights=str(tmp_path / "w.pth"))
    assert torch.equal(model.conv_stem.weight, source.conv_stem.weight)
    assert model.classifier.weight.shape == (5, 1280)
    torch.save({"conv_stem.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ModelError, match="missing"):
        build_model("efficientnet_lite0", weights=str(tmp_path / "bad.pth"))


def test_missing_torchvision_weights_name_the_file_expected(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")
    with pytest.raises(ModelError, match=r"resnet18-f37072fd\.pth") as e:
        build_model("resnet18", weights="imagenet")
    assert str(tmp_path) in str(e.value)


def test_cached_torchvision_weights_are_used(tmp_path, monkeypatch):
    # a file in the cache under the weight enum's name is what --weights imagenet loads
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")
    reference = build_model("resnet18")
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(reference.state_dict(), tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth")
    model = build_model("resnet18", weights="imagenet")
    assert torch.equal(model.fc.weight, reference.fc.weight)
    assert len(model.class_names) == 1000
