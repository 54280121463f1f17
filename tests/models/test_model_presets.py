"""Parameter counts and output shapes of the registry presets (tutorial and classic)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnlab.errors import ModelError
from cnnlab.models import build_model


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("name", "kwargs", "expected"), [
    ("mnist-tutorial", {}, 220_234),
    ("mnist-tutorial-relu", {}, 220_234),
    ("mnist-tiny", {}, 9_098),
    ("keras-mnist", {}, 93_322),
    ("keras-catsdogs", {}, 3_453_121),                      # the book: one sigmoid unit
    ("keras-catsdogs", {"dropout": 0.5}, 3_453_121),        # dropout adds no parameters
    ("keras-catsdogs", {"binary_head": False}, 3_453_634),  # two logits for cross-entropy
    ("lenet5", {}, 61_706),
    ("lenet5", {"activation": "relu", "pool": "max"}, 61_706),
    ("lenet5", {"input_size": 32}, 61_706),                 # the paper's 32x32, unpadded C1
])
def test_small_preset_parameter_counts(name, kwargs, expected):
    assert n_params(build_model(name, **kwargs)) == expected


@pytest.mark.parametrize(("name", "expected"), [
    ("alexnet", 61_100_840),
    ("vgg16", 138_357_544),
    ("googlenet", 6_624_904),
    ("resnet18", 11_689_512),
    ("resnet50", 25_557_032),
    ("efficientnet_lite0", 4_652_008),
])
def test_imagenet_architectures_at_1000_classes(name, expected):
    with torch.device("meta"):  # shapes only: the count without allocating 138M floats
        model = build_model(name, num_classes=1000, in_channels=3, input_size=224)
    assert n_params(model) == expected


def _leaf_output_shapes(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    shapes = {}
    hooks = [m.register_forward_hook(
        lambda mod, args, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:])))
        for name, m in model.named_children()]
    with torch.no_grad():
        model.eval()(x)
    for hook in hooks:
        hook.remove()
    return shapes


def test_keras_mnist_output_shapes_match_the_book():
    shapes = _leaf_output_shapes(build_model("keras-mnist"), torch.zeros(1, 1, 28, 28))
    # The book lists channels-last (26, 26, 32); PyTorch's maps are channels-first.
    assert [shapes[n] for n in ("conv1", "pool1", "conv2", "pool2", "conv3", "flatten",
                                "fc1", "fc2")] == [
        (32, 26, 26), (32, 13, 13), (64, 11, 11), (64, 5, 5), (64, 3, 3), (576,), (64,), (10,)]


def test_mnist_tutorial_layer_order_is_the_tutorials_fc1_dropout_fc2():
    # The tutorial's forward: x = fc1(x); x = dropout3(x); x = fc2(x) -- no activation between.
    model = build_model("mnist-tutorial")
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Conv2d", "ReLU", "MaxPool2d", "Dropout", "Conv2d", "ReLU", "MaxPool2d",
                     "Dropout", "Flatten", "Linear", "Dropout", "Linear"]
    assert [m.p for m in model if isinstance(m, nn.Dropout)] == [0.3, 0.2, 0.2]
    assert model.fc1.in_features == 3136 and model.fc1.out_features == 64


class _TutorialCNN(nn.Module):
    """The PyTorch MNIST tutorial's CNNModel, as its code writes it."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.dropout1, self.dropout2, self.dropout3 = nn.Dropout(0.3), nn.Dropout(0.2), nn.Dropout(0.2)
        self.fc1 = nn.Linear(64 * 7 * 7, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = self.dropout1(self.pool(torch.relu(self.conv1(x))))
        x = self.dropout2(self.pool(torch.relu(self.conv2(x))))
        x = x.view(-1, 64 * 7 * 7)
        x = self.fc1(x)
        x = self.dropout3(x)
        return self.fc2(x)


def test_mnist_tutorial_computes_what_the_tutorials_model_computes():
    torch.manual_seed(0)
    reference = _TutorialCNN().eval()
    preset = build_model("mnist-tutorial").eval()
    preset.load_state_dict({k: v for k, v in reference.state_dict().items()})
    x = torch.randn(8, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(preset(x), reference(x), atol=1e-5)


def test_mnist_tutorial_relu_is_the_documented_variant_with_relu_after_fc1():
    model = build_model("mnist-tutorial-relu")
    names = [name for name, _ in model.named_children()]
    assert names[names.index("fc1") + 1] == "relu3"
    assert n_params(model) == 220_234


@pytest.mark.parametrize(("name", "shape", "outputs"), [
    ("mnist-tutorial", (1, 28, 28), 10),
    ("mnist-tiny", (1, 28, 28), 10),
    ("keras-mnist", (1, 28, 28), 10),
    ("keras-catsdogs", (3, 150, 150), 1),
    ("lenet5", (1, 28, 28), 10),
])
def test_tutorial_presets_forward_a_batch(name, shape, outputs):
    model = build_model(name).eval()
    with torch.no_grad():
        assert model(torch.randn(2, *shape)).shape == (2, outputs)
    assert model.binary_output is (name == "keras-catsdogs")


def test_catsdogs_head_variants():
    book2 = build_model("keras-catsdogs", dropout=0.5)
    kinds = [type(m).__name__ for m in book2][-5:]
    assert kinds == ["Flatten", "Dropout", "Linear", "ReLU", "Linear"]
    assert book2.drop.p == 0.5 and book2.binary_output is True
    two_logits = build_model("keras-catsdogs", binary_head=False)
    assert two_logits.fc2.out_features == 2 and two_logits.binary_output is False
    five = build_model("keras-catsdogs", num_classes=5)
    assert five.fc2.out_features == 5 and five.binary_output is False
    with pytest.raises(ModelError, match="dropout"):
        build_model("keras-catsdogs", dropout=1.5)


def test_presets_adapt_their_first_fc_to_the_input_size():
    assert build_model("mnist-tutorial", input_size=32).fc1.in_features == 64 * 8 * 8
    assert build_model("keras-catsdogs", input_size=(160, 120)).fc1.in_features == 128 * 8 * 5
    model = build_model("mnist-tiny", in_channels=3, num_classes=4)
    assert model.conv1.in_channels == 3 and model.fc.out_features == 4


def test_preset_on_a_too_small_input_names_the_layer():
    with pytest.raises(ModelError, match="pool2") as error:
        build_model("mnist-tutorial", input_size=3)  # 3 → pool1 → 1 → pool2 → 0
    assert "mnist-tutorial" in str(error.value)


def test_first_conv_replaced_for_other_channel_counts():
    with torch.device("meta"):
        vgg = build_model("vgg16", in_channels=1, num_classes=10)
        resnet = build_model("resnet18", in_channels=4)
        effnet = build_model("efficientnet_lite0", in_channels=1)
    first = vgg.features[0]
    assert (first.in_channels, first.out_channels, first.kernel_size, first.padding) == (
        1, 64, (3, 3), (1, 1))
    assert vgg.classifier[-1].out_features == 10
    stem = resnet.conv1
    assert (stem.in_channels, stem.kernel_size, stem.stride, stem.padding, stem.bias) == (
        4, (7, 7), (2, 2), (3, 3), None)
    assert effnet.conv_stem.in_channels == 1


def test_replaced_first_conv_keeps_pretrained_style_weights_summed():
    from cnnlab.models.external import replace_first_conv
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    rgb = model[0].weight.detach().clone()
    replace_first_conv(model, 1)
    assert model[0].in_channels == 1
    torch.testing.assert_close(model[0].weight, rgb.sum(dim=1, keepdim=True))


def test_googlenet_has_no_auxiliary_heads():
    with torch.device("meta"):
        model = build_model("googlenet")
    assert model.aux_logits is False and model.aux1 is None and model.aux2 is None
