"""Size arithmetic: (W - F + 2P)/S + 1, input-size checks and receptive fields."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from cnnlab.errors import ModelError
from cnnlab.models import build_model
from cnnlab.models.output_size import check_input_size, conv_output_size
from cnnlab.models.receptive_field import receptive_fields
from cnnlab.shapes import as_chw as parse_input_size


@pytest.mark.parametrize(("args", "kwargs", "expected"), [
    ((227, 11, 0, 4), {}, 55),        # AlexNet's first layer (CS231n)
    ((224, 3, 1, 1), {}, 224),        # a 'same' 3x3 conv
    ((224, 2, 0, 2), {}, 112),        # 2x2 max pool
    ((7, 3, 0, 1), {}, 5),
    ((7, 3, 0, 2), {"strict": True}, 3),
    ((10, 3, 0, 2), {}, 4),           # PyTorch floors 4.5
    ((10, 3, 0, 1), {"dilation": 2}, 6),
    ((5, 5, 0, 1), {}, 1),
])
def test_conv_output_size(args, kwargs, expected):
    assert conv_output_size(*args, **kwargs) == expected


def test_conv_output_size_errors_explain_the_formula():
    with pytest.raises(ModelError, match=r"W=5, F=7, P=0, S=1 .* = -1, an empty output"):
        conv_output_size(5, 7, 0, 1)
    with pytest.raises(ModelError, match=r"4.5 is not a whole number.*floor it to 4"):
        conv_output_size(10, 3, 0, 2, strict=True)
    with pytest.raises(ModelError, match="^conv9: "):
        conv_output_size(3, 9, layer="conv9")
    for bad in [(0, 3, 0, 1), (5, 3, -1, 1), (5, 3, 0, 0), (5.0, 3, 0, 1)]:
        with pytest.raises(ModelError, match="expected an int"):
            conv_output_size(*bad)


def test_parse_input_size():
    assert parse_input_size("3x224x224") == (3, 224, 224)
    assert parse_input_size(" 1 × 28 × 28 ") == (1, 28, 28)
    assert parse_input_size("3,32,32") == (3, 32, 32)
    for bad in ["3x224", "3x224x0", "axbxc", "", "3x224x224x1"]:
        with pytest.raises(ModelError, match="C×H×W"):
            parse_input_size(bad)


def test_three_stacked_3x3_convs_see_7x7():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU(),
                          nn.Conv2d(4, 4, 3))
    fields = receptive_fields(model, (1, 16, 16))
    convs = [f for f in fields if f.kind == "Conv2d"]
    assert [f.size for f in convs] == [(3, 3), (5, 5), (7, 7)]
    assert convs[-1].jump == (1, 1) and convs[-1].start == (3.5, 3.5)
    assert convs[-1].output_size == (10, 10)
    assert fields[1].kind == "ReLU" and fields[1].size == (3, 3)


def test_strides_and_padding_move_jump_and_start():
    model = nn.Sequential(nn.Conv2d(1, 1, 3, stride=2, padding=1), nn.MaxPool2d(2),
                          nn.Conv2d(1, 1, 3, dilation=2))
    conv, pool, dilated = receptive_fields(model, (1, 32, 32))
    assert (conv.size, conv.jump, conv.start) == ((3, 3), (2, 2), (0.5, 0.5))
    assert (pool.size, pool.jump, pool.start) == ((5, 5), (4, 4), (1.5, 1.5))
    # a 3-tap filter dilated by 2 spans 5 of its inputs, 4 input pixels apart
    assert (dilated.size, dilated.jump, dilated.start) == ((21, 21), (4, 4), (9.5, 9.5))


@pytest.fixture(scope="module")
def vgg16_gray():
    with torch.device("meta"):
        return build_model("vgg16", num_classes=10, in_channels=1)


def test_vgg16_receptive_fields(vgg16_gray):
    fields = {f.layer: f for f in receptive_fields(vgg16_gray, (1, 224, 224))}
    assert fields["features.28"].size == (196, 196)  # conv5_3
    assert fields["features.30"].size == (212, 212)  # pool5
    assert fields["features.30"].jump == (32, 32)


def test_resnet18_receptive_field_follows_the_main_path_not_the_shortcut():
    with torch.device("meta"):
        model = build_model("resnet18")
    fields = {f.layer: f for f in receptive_fields(model, (3, 224, 224))}
    # A shortcut's 1x1 stride-2 conv runs after the main path; chaining layers in call order
    # would count its stride twice. Following tensors gives the known 435 and stride 32.
    assert fields["layer4.1.relu"].size == (435, 435)
    assert fields["layer4.1.relu"].jump == (32, 32)
    # stem 7x7/2 → 7, max-pool 3x3/2 → 11 (jump 4), four 3x3 convs of layer1 → 11 + 4*2*4 = 43;
    # the shortcut's 1x1 conv adds nothing to the field and doubles the jump.
    assert fields["layer2.0.downsample.0"].size == (43, 43)
    assert fields["layer2.0.downsample.0"].jump == (8, 8)


def test_vgg16_on_28x28_is_refused_naming_the_layer(vgg16_gray):
    with pytest.raises(ModelError) as error:
        check_input_size(vgg16_gray, (1, 28, 28))
    message = str(error.value)
    assert "layer 'features.30'" in message and "vgg16" in message
    assert "28×28 → 14×14 (features.4) → 7×7 (features.9) → 3×3 (features.16) → 1×1" in message


def test_a_small_map_stretched_by_the_adaptive_pool_warns(vgg16_gray):
    with pytest.warns(UserWarning, match="'avgpool' .* stretches a 1×1 map to 7×7"):
        assert check_input_size(vgg16_gray, (1, 32, 32)) == (10,)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_input_size(vgg16_gray, (1, 224, 224)) == (10,)


def test_check_input_size_explains_a_channel_mismatch():
    model = build_model("mnist-tutorial")
    assert check_input_size(model, (1, 28, 28)) == (10,)
    with pytest.raises(ModelError, match=r"layer 'conv1' .* expects 1 input channels but gets "
                                         r"3×28×28"):
        check_input_size(model, "3x28x28")


def test_check_input_size_restores_training_flags_and_leaves_weights_alone():
    model = build_model("mnist-tutorial").train()
    model.drop1.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    check_input_size(model, (1, 28, 28))
    assert model.training and model.conv1.training and not model.drop1.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


class DataDependent(nn.Module):
    """Asks a tensor for a Python number: impossible on the meta device."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 5)

    def forward(self, x):
        if x.abs().sum().item() >= 0:
            x = self.conv(x)
        return x.flatten(1)


def test_models_that_need_real_values_fall_back_to_a_real_dry_run():
    model = DataDependent()
    assert check_input_size(model, (1, 8, 8)) == (2 * 4 * 4,)
    with pytest.raises(ModelError, match=r"too small .*layer 'conv'"):
        check_input_size(model, (1, 3, 3))
    assert receptive_fields(model, (1, 8, 8))[0].size == (5, 5)
