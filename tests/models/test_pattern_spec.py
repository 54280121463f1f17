"""The pattern grammar: building, the documented examples, and errors with positions."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cnnlab.errors import ModelError
from cnnlab.models import build_model
from cnnlab.models.pattern import SpecError, build_from_spec, parse_spec

DOC = Path(__file__).resolve().parents[2] / "docs" / "pattern-spec.md"

KERAS_MNIST = "conv32k3 relu maxpool2 conv64k3 relu maxpool2 conv64k3 relu fc64 relu fc10"
MNIST_TUTORIAL = ("conv32k3p1 relu maxpool2 drop0.3 conv64k3p1 relu maxpool2 drop0.2 fc64 "
                  "drop0.2 fc")
SMALL_VGG = ("init=kaiming [conv32k3p1 bn relu]x2 maxpool2 [conv64k3p1 bn relu]x2 maxpool2 "
             "[conv128k3p1 bn relu]x2 maxpool2 gap drop0.3 fc")
ALEXNET = ("conv96k11s4p2 relu lrn maxpool3s2 conv256k5p2 relu lrn maxpool3s2 conv384k3p1 relu "
           "conv384k3p1 relu conv256k3p1 relu maxpool3s2 fc4096 relu drop fc4096 relu drop fc")


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def output_shapes(model: nn.Module, shape: tuple[int, int, int]) -> list[tuple[str, tuple]]:
    seen = []
    hooks = [m.register_forward_hook(
        lambda mod, args, out: seen.append((type(mod).__name__, tuple(out.shape[1:]))))
        for m in model]
    with torch.no_grad():
        model.eval()(torch.zeros(1, *shape))
    for hook in hooks:
        hook.remove()
    return seen


def test_keras_mnist_written_as_a_spec_equals_the_preset():
    spec_model = build_model("spec:" + KERAS_MNIST)
    assert n_params(spec_model) == 93_322
    assert output_shapes(spec_model, (1, 28, 28)) == output_shapes(build_model("keras-mnist"),
                                                                    (1, 28, 28))
    assert [name for name, _ in spec_model.named_children()] == [
        "conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "conv3", "relu3", "flatten",
        "fc1", "relu4", "fc2"]


@pytest.mark.parametrize(("spec", "shape", "classes", "expected"), [
    (KERAS_MNIST, (1, 28, 28), 10, 93_322),
    (MNIST_TUTORIAL, (1, 28, 28), 10, 220_234),
    (SMALL_VGG, (3, 32, 32), 10, 289_194),
    (ALEXNET, (3, 224, 224), 1000, 62_378_344),
])
def test_documented_examples_build_with_the_stated_parameter_counts(spec, shape, classes,
                                                                     expected):
    doc = DOC.read_text(encoding="utf-8")
    assert spec in doc and f"{expected:,}" in doc
    with torch.device("meta"):
        model = build_from_spec(spec, num_classes=classes, in_channels=shape[0],
                                input_size=shape[1:])
    assert n_params(model) == expected


@pytest.mark.parametrize(("spec", "preset_name"), [
    (MNIST_TUTORIAL, "mnist-tutorial"),
    (MNIST_TUTORIAL.replace("fc64 ", "fc64 relu "), "mnist-tutorial-relu"),
])
def test_mnist_tutorial_spec_matches_the_preset_layer_for_layer(spec, preset_name):
    spec_model = build_from_spec(spec)
    preset = build_model(preset_name)
    assert [type(m) for m in spec_model] == [type(m) for m in preset]
    assert ([tuple(p.shape) for p in spec_model.parameters()]
            == [tuple(p.shape) for p in preset.parameters()])


def test_groups_repeat_and_nest():
    model = build_from_spec("[[conv4k3p1 relu]x2 maxpool2]x2 fc", num_classes=3)
    assert [n for n, _ in model.named_children()] == [
        "conv1", "relu1", "conv2", "relu2", "pool1", "conv3", "relu3", "conv4", "relu4",
        "pool2", "flatten", "fc1"]
    assert model.fc1.in_features == 4 * 7 * 7
    assert len(parse_spec("[relu]*3 fc").layers) == 4


def test_layer_words_map_to_the_documented_modules():
    model = build_from_spec("conv8k5s2p2 lrn3 leaky_relu0.1 avgpool3s1p1 bn prelu elu "
                            "conv8k3psame gelu tanh flatten fc16 bn sigmoid dropout fc",
                            num_classes=2, in_channels=3, input_size=32)
    assert model.conv1.stride == (2, 2) and model.conv1.padding == (2, 2)
    assert isinstance(model.lrn1, nn.LocalResponseNorm) and model.lrn1.size == 3
    assert model.lrn1.k == 2.0 and model.lrn1.beta == 0.75
    assert model.leaky_relu1.negative_slope == 0.1
    assert isinstance(model.pool1, nn.AvgPool2d) and model.pool1.stride == 1
    assert isinstance(model.bn1, nn.BatchNorm2d) and isinstance(model.bn2, nn.BatchNorm1d)
    assert model.conv2.padding == (1, 1)  # 'same' for an odd kernel is p = (k-1)/2
    assert model.drop1.p == 0.5
    assert model.fc1.in_features == 8 * 16 * 16
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 2)
    gap = build_from_spec("conv8k3 gap fc", num_classes=4)
    assert isinstance(gap.gap, nn.AdaptiveAvgPool2d) and gap.fc1.in_features == 8


def test_the_last_fc_and_num_classes():
    assert build_from_spec("conv4k3 fc", num_classes=7).fc1.out_features == 7
    assert build_from_spec("conv4k3 fc").fc1.out_features == 10
    assert build_model("spec:conv4k3 fc8 relu fc5").fc2.out_features == 5  # default from spec
    with pytest.raises(SpecError, match="num_classes=5") as error:
        build_from_spec("conv4k3 fc10", num_classes=5)
    assert error.value.position == 8
    with pytest.raises(SpecError, match="only the last fc"):
        build_from_spec("conv4k3 fc relu fc10")
    with pytest.raises(SpecError, match="ends with a 4×26×26 feature map"):
        build_from_spec("conv4k3 relu")


@pytest.mark.parametrize(("spec", "position", "message"), [
    ("conv32k3 relu conx64k3", 14, "unknown layer 'conx' (did you mean: conv?)"),
    ("conv32k3x", 8, "unexpected 'x'"),
    ("conv32k3k5", 8, "option 'k' given twice"),
    ("conv relu", 4, "expected the number of filters"),
    ("conv3.5 fc", 4, "not a whole number"),
    ("[conv32 relu] fc", 14, "needs a repeat count"),
    ("[conv32 relu]x0 fc", 14, "repeat count of 1 or more"),
    ("conv32 relu ]x2", 12, "without a matching '['"),
    ("conv32 [relu fc", 7, "never closed"),
    ("init=foo conv3 fc", 5, "unknown init 'foo'"),
    ("colour=red conv3 fc", 0, "unknown setting"),
    ("conv3 init=kaiming fc", 6, "must come before the first layer"),
    ("conv32 # fc", 7, "unexpected character '#'"),
    ("conv8 drop1.5 fc", 10, "must be in [0, 1)"),
    ("maxpool2psame fc", 8, "pooling padding must be a number"),
    ("relu2 fc", 4, "unexpected '2' after 'relu'"),
    ("conv8k0 fc", 6, "must be at least 1, got 0"),
    ("conv0 fc", 4, "number of filters (as in conv32) must be at least 1"),
    ("maxpool0 fc", 7, "pool size must be at least 1"),
])
def test_parse_errors_point_at_the_position(spec, position, message):
    with pytest.raises(SpecError) as error:
        build_model("spec:" + spec)
    assert error.value.position == position
    assert message in str(error.value)
    spec_line, caret_line = str(error.value).splitlines()[-2:]
    assert spec_line == "  " + spec
    assert caret_line == "  " + " " * position + "^"
    assert isinstance(error.value, ModelError)


@pytest.mark.parametrize(("spec", "position", "message"), [
    ("conv32k5 maxpool2 conv32k5 maxpool2 conv32k5 fc", 36, "gets 32×4×4"),
    ("conv8k3 fc16 conv8k3 fc", 13, "already flattened it to 16 values"),
    ("conv8k3s2psame fc", 0, "needs stride 1"),
    ("conv8 maxpool3p2 fc", 6, "more than half the window"),
    ("conv8 flatten maxpool2 fc", 14, "needs a feature map"),
])
def test_size_errors_point_at_the_layer(spec, position, message):
    with pytest.raises(SpecError) as error:
        build_from_spec(spec)
    assert error.value.position == position
    assert message in str(error.value)


def test_documented_size_error_is_the_real_message():
    with pytest.raises(SpecError) as error:
        build_from_spec("conv32k5 maxpool2 conv32k5 maxpool2 conv32k5 fc")
    doc = " ".join(DOC.read_text(encoding="utf-8").split())
    assert " ".join(str(error.value).splitlines()[0].split()) in doc


def _std(t: torch.Tensor) -> float:
    return t.float().std().item()


def test_weight_initialisation_settings():
    torch.manual_seed(0)
    spec = "[conv64k3p1 relu]x2 fc"
    kaiming = build_from_spec("init=kaiming " + spec, input_size=8)
    fan_in = 64 * 3 * 3
    assert _std(kaiming.conv2.weight) == pytest.approx(math.sqrt(2 / fan_in), rel=0.05)
    assert torch.count_nonzero(kaiming.conv2.bias) == 0
    xavier = build_from_spec("init=glorot " + spec, input_size=8)
    bound = math.sqrt(6 / (fan_in + 64 * 3 * 3))
    assert xavier.conv2.weight.abs().max().item() <= bound
    assert _std(xavier.conv2.weight) == pytest.approx(bound / math.sqrt(3), rel=0.05)
    default = build_from_spec(spec, input_size=8)
    # PyTorch's default is kaiming_uniform(a=sqrt(5)): std = 1/sqrt(3*fan_in), biases non-zero
    assert _std(default.conv2.weight) == pytest.approx(1 / math.sqrt(3 * fan_in), rel=0.05)
    assert torch.count_nonzero(default.conv2.bias) > 0


WORDS = st.sampled_from(["conv", "conv8", "k3", "s2", "p1", "psame", "relu", "maxpool2", "fc",
                         "fc4", "[", "]", "]x2", "x", "=", "init=he", "drop0.5", "0", "-", " ",
                         ".", "bn", "gap", "#", "lrn", "leaky_relu", "Conv8K3"])


@settings(max_examples=150, deadline=None)
@given(st.lists(WORDS, max_size=12).map("".join))
def test_any_text_parses_or_raises_a_spec_error_inside_the_text(text):
    try:
        spec = parse_spec(text)
    except SpecError as error:
        assert 0 <= error.position <= len(text)
        return
    assert spec.layers
