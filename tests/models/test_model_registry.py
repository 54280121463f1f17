"""The registry's one door: names, defaults, did-you-mean and the architecture dict."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from cnnlab.errors import CnnlabError, ModelError
from cnnlab.models import build_model, list_models, model_info
from cnnlab.models.registry import architecture_dict, build_from_architecture, model_families, register
from cnnlab.models import registry

PRESETS = ["mnist-tutorial", "mnist-tutorial-relu", "mnist-tiny", "keras-mnist", "keras-catsdogs", "lenet5", "alexnet",
           "vgg16", "googlenet", "resnet18", "resnet50", "efficientnet_lite0"]


def test_every_preset_is_listed_with_its_natural_input():
    assert list_models() == PRESETS
    natural = lambda i: (i.input_size, i.in_channels, i.num_classes)  # noqa: E731
    assert natural(model_info("keras-catsdogs")) == ((150, 150), 3, 2)
    assert natural(model_info("vgg16")) == ((224, 224), 3, 1000)
    for name in ("mnist-tutorial", "mnist-tutorial-relu", "mnist-tiny", "keras-mnist", "lenet5"):
        info = model_info(name)
        assert (info.input_size, info.in_channels, info.num_classes) == ((28, 28), 1, 10)
        assert info.description and info.source
    assert list_models("keras") == ["keras-mnist", "keras-catsdogs"]
    assert set(model_families()) == {"spec:<pattern>", "torchvision:<name>", "timm:<name>", "transfer:<backbone>"}


@pytest.mark.parametrize(("typo", "suggestion"), [
    ("vgg61", "vgg16"), ("mnist-tutorail", "mnist-tutorial"), ("resnet-18", "resnet18"),
    ("torchvision:resnt34", "resnet34"), ("timm:tf_efficientnet_lite00", "tf_efficientnet_lite0"),
])
def test_unknown_names_suggest_the_closest(typo, suggestion):
    with pytest.raises(ModelError, match="did you mean") as error:
        build_model(typo)
    assert suggestion in str(error.value)
    assert isinstance(error.value, CnnlabError)


def test_unknown_option_is_a_model_error_listing_the_accepted_ones():
    with pytest.raises(ModelError, match="did you mean: dropout"):
        build_model("keras-catsdogs", dropot=0.5)
    with pytest.raises(ModelError, match="unexpected keyword"):
        with torch.device("meta"):
            build_model("resnet18", not_an_option=1)


def test_defaults_come_from_the_preset_and_are_recorded_on_the_model():
    model = build_model("keras-catsdogs")
    assert model.cnnlab_architecture == {"name": "keras-catsdogs", "num_classes": 2,
                                         "in_channels": 3, "input_size": [150, 150],
                                         "kwargs": {}}
    assert build_model("mnist-tiny").cnnlab_architecture["input_size"] == [28, 28]


def test_prefixed_families_build_torchvision_and_timm_models():
    with torch.device("meta"):
        tv = build_model("torchvision:resnet34", num_classes=7, in_channels=1)
        tm = build_model("timm:tf_efficientnet_lite0", num_classes=3, in_channels=2)
    assert tv.fc.out_features == 7 and tv.conv1.in_channels == 1
    assert tm.classifier.out_features == 3 and tm.conv_stem.in_channels == 2
    assert model_info("torchvision:inception_v3").input_size == (299, 299)
    assert model_info("timm:tf_efficientnet_lite0").input_size == (224, 224)


def _shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


ROUND_TRIPS = [
    ("mnist-tutorial", {}, {}),
    ("mnist-tiny", {"num_classes": 3, "in_channels": 3, "input_size": (32, 40)}, {}),
    ("keras-mnist", {"num_classes": 5}, {}),
    ("keras-catsdogs", {"input_size": 96}, {"dropout": 0.5, "binary_head": False}),
    ("lenet5", {}, {"activation": "relu", "pool": "max"}),
    ("alexnet", {"num_classes": 10}, {}),
    ("vgg16", {"num_classes": 10, "in_channels": 1}, {}),
    ("googlenet", {"num_classes": 10}, {}),
    ("resnet18", {"num_classes": 10, "in_channels": 1}, {}),
    ("resnet50", {"num_classes": 10}, {}),
    ("efficientnet_lite0", {"num_classes": 10, "in_channels": 1}, {"drop_rate": 0.2}),
    ("spec:conv8k3 relu maxpool2 fc", {"num_classes": 4, "in_channels": 3, "input_size": 20}, {}),
    ("torchvision:mobilenet_v3_small", {"num_classes": 6}, {}),
    ("timm:resnet10t", {"num_classes": 6, "in_channels": 1}, {}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), ROUND_TRIPS, ids=[r[0] for r in ROUND_TRIPS])
def test_architecture_dict_round_trip_rebuilds_the_same_shapes(name, args, kwargs):
    with torch.device("meta"):  # parameter shapes are all a round trip must preserve
        original = build_model(name, **args, **kwargs)
        arch = json.loads(json.dumps(original.cnnlab_architecture))  # what a checkpoint holds
        rebuilt = build_from_architecture(arch)
    assert arch == architecture_dict(name, **args, **kwargs)
    assert _shapes(rebuilt) == _shapes(original)
    assert type(rebuilt) is type(original)
    assert rebuilt.cnnlab_architecture == arch


def test_round_trip_of_a_real_model_reproduces_its_outputs_once_weights_are_loaded():
    original = build_model("keras-mnist", num_classes=4).eval()
    rebuilt = build_from_architecture(json.loads(json.dumps(original.cnnlab_architecture)))
    rebuilt.load_state_dict(original.state_dict())
    x = torch.randn(2, 1, 28, 28)
    torch.testing.assert_close(rebuilt.eval()(x), original(x))


def test_architecture_dict_refuses_values_a_checkpoint_cannot_store():
    with pytest.raises(ModelError, match="cannot be stored"):
        architecture_dict("resnet18", norm_layer=nn.BatchNorm2d)
    with torch.device("meta"):
        model = build_model("resnet18", norm_layer=nn.BatchNorm2d)
    assert model.cnnlab_architecture is None
    with pytest.raises(ModelError, match="missing keys"):
        build_from_architecture({"name": "mnist-tiny"})
    with pytest.raises(ModelError, match="unknown keys"):
        build_from_architecture({**architecture_dict("mnist-tiny"), "weights": "x"})
    with pytest.raises(ModelError, match="num_classes"):
        build_model("mnist-tiny", num_classes=0)
    with pytest.raises(ModelError, match="input_size"):
        build_model("mnist-tiny", input_size=(28, 28, 1))


def test_register_adds_a_preset_that_build_model_and_listing_see():
    @register("test-linear", description="a test preset", input_size=8, in_channels=2,
              num_classes=3, source="this test")
    def test_linear(num_classes, in_channels, input_size, hidden: int = 4):
        h, w = input_size
        return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * h * w, hidden),
                             nn.Linear(hidden, num_classes))

    try:
        assert "test-linear" in list_models()
        model = build_model("test-linear", hidden=5)
        assert model(torch.zeros(1, 2, 8, 8)).shape == (1, 3)
        assert model.cnnlab_architecture["kwargs"] == {"hidden": 5}
        with pytest.raises(ValueError, match="twice"):
            register("test-linear", description="", input_size=8, in_channels=1,
                     num_classes=1, source="")(test_linear)
    finally:
        del registry._REGISTRY["test-linear"]
