"""Bad shapes raise a ModelError that names the layer and shows the numbers."""

import numpy as np
import pytest

from cnnlab.errors import CnnlabError, ModelError
from cnnlab.scratch.layers import AvgPool2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential
from cnnlab.scratch.loss import SoftmaxCrossEntropy


def test_strict_conv_names_layer_and_formula():
    conv = Conv2d(1, 4, 5, stride=2, strict=True, name="conv1")
    with pytest.raises(ModelError) as err:
        conv.forward(np.zeros((1, 1, 28, 28), np.float32))
    assert str(err.value) == ("Conv2d(conv1): output height (28 − 5 + 2·0)/2 + 1 = 12.5 is not "
                              "a whole number; change padding or stride")
    assert isinstance(err.value, CnnlabError)


def test_default_conv_floors_like_torch():
    conv = Conv2d(1, 4, 5, stride=2, name="conv1")
    assert conv.forward(np.zeros((1, 1, 28, 28), np.float32)).shape == (1, 4, 12, 12)


def test_strict_dilated_conv_explains_span():
    conv = Conv2d(1, 1, 3, dilation=2, stride=2, strict=True, name="d")
    with pytest.raises(ModelError, match=r"output width \(10 − 5 \+ 2·0\)/2 \+ 1 = 3\.5 .*"
                                         r"kernel 3 dilated by 2 spans 5"):
        conv.output_shape((1, 1, 9, 10))


def test_kernel_larger_than_padded_input():
    with pytest.raises(ModelError, match=r"Conv2d\(conv2\): kernel height 5 is larger than the "
                                         r"padded input height 2 \+ 2·1 = 4; add padding"):
        Conv2d(1, 1, 5, padding=1, name="conv2").forward(np.zeros((1, 1, 2, 3)))
    with pytest.raises(ModelError, match=r"MaxPool2d\(pool\): kernel height 3 is larger than "
                                         r"the padded input height 2 \+ 2·0 = 2"):
        MaxPool2d(3, name="pool").forward(np.zeros((1, 1, 2, 2)))


def test_strict_pool():
    with pytest.raises(ModelError, match=r"AvgPool2d\(p\): output width \(7 − 2 \+ 2·0\)/2 "
                                         r"\+ 1 = 3\.5"):
        AvgPool2d(2, strict=True, name="p").forward(np.zeros((1, 1, 8, 7)))


def test_pool_padding_limit():
    with pytest.raises(ModelError, match=r"MaxPool2d: padding 2 is more than half the kernel "
                                         r"size 3"):
        MaxPool2d(3, padding=2)


def test_channel_and_feature_mismatch():
    with pytest.raises(ModelError, match=r"Conv2d\(c\): expected input N×3×H×W, got shape "
                                         r"\(2, 1, 8, 8\)"):
        Conv2d(3, 4, 3, name="c").forward(np.zeros((2, 1, 8, 8)))
    with pytest.raises(ModelError, match=r"Linear\(fc\): expected input N×100, got shape "
                                         r"\(2, 128\)"):
        Linear(100, 10, name="fc").forward(np.zeros((2, 128)))


def test_sequential_output_shape_names_the_failing_layer():
    model = Sequential(Conv2d(1, 8, 3, padding=1), ReLU(), MaxPool2d(2), Flatten(),
                       Linear(100, 10))
    with pytest.raises(ModelError, match=r"Linear\(layer 4\): expected input N×100, got shape "
                                         r"\(1, 128\)"):
        model.output_shape((1, 1, 8, 8))
    good = Sequential(Conv2d(1, 8, 3, padding=1), ReLU(), MaxPool2d(2), Flatten(),
                      Linear(128, 10))
    assert good.output_shape((5, 1, 8, 8)) == (5, 10)


def test_pool_needs_images():
    with pytest.raises(ModelError, match=r"MaxPool2d\(layer 1\): expected an N×C×H×W input, got "
                                         r"shape \(4, 10\)"):
        Sequential(Flatten(), MaxPool2d(2)).output_shape((4, 1, 2, 5))


def test_other_bad_inputs():
    with pytest.raises(ModelError, match=r"Dropout: drop probability p = 1\.0"):
        Dropout(1.0)
    with pytest.raises(ModelError, match=r"labels must lie in 0…2 for 3 classes, got 0…3"):
        SoftmaxCrossEntropy().forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ModelError, match="layer names must be unique"):
        Sequential(ReLU(name="a"), ReLU(name="a"))
    with pytest.raises(RuntimeError, match=r"Conv2d\(c\): backward\(\) called before"):
        Conv2d(1, 1, 3, name="c").backward(np.zeros((1, 1, 1, 1)))
