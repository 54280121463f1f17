"""The per-layer summary: CS231n's VGG-16 numbers and the memory totals."""

from __future__ import annotations

import re

import pytest
import torch

from cnnlab.errors import ModelError
from cnnlab.models import build_model, summary

# CS231n's VGG-16 table (values per image): INPUT, 2 conv 224x224x64, pool, 2 conv 112x112x128,
# pool, 3 conv 56x56x256, pool, 3 conv 28x28x512, pool, 3 conv 14x14x512, pool 7x7x512, 3 FC.
CS231N_VGG16_VALUES = (224 * 224 * 3 + 2 * 224 * 224 * 64 + 112 * 112 * 64
                       + 2 * 112 * 112 * 128 + 56 * 56 * 128 + 3 * 56 * 56 * 256 + 28 * 28 * 256
                       + 3 * 28 * 28 * 512 + 14 * 14 * 512 + 3 * 14 * 14 * 512 + 7 * 7 * 512
                       + 4096 + 4096 + 1000)


@pytest.fixture(scope="module")
def vgg16_summary():
    return summary("vgg16", (3, 224, 224))  # built on the meta device: no 138M floats


def test_vgg16_layers_match_cs231n(vgg16_summary):
    convs = [r for r in vgg16_summary.rows if r.kind == "Conv2d"]
    fcs = [r for r in vgg16_summary.rows if r.kind == "Linear"]
    assert len(convs) == 13 and len(fcs) == 3
    conv1 = convs[0]
    assert conv1.name == "features.0" and conv1.output_shape == (64, 224, 224)
    assert conv1.activations == 3_211_264 and conv1.activation_bytes == 3_211_264 * 4
    assert (conv1.weights, conv1.biases) == (1_728, 64)
    assert conv1.mult_adds == (1_728 + 64) * 224 * 224  # torchinfo counts a bias add as one
    assert convs[1].weights == 36_864  # CONV3-64: (3*3*64)*64
    assert fcs[0].weights == 102_760_448 and fcs[0].output_shape == (4096,)  # 7*7*512*4096
    assert fcs[1].weights == 16_777_216 and fcs[2].weights == 4_096_000
    assert vgg16_summary.total_params == 138_357_544
    assert vgg16_summary.frozen_params == 0


def test_vgg16_activation_memory_relates_to_cs231n(vgg16_summary):
    assert CS231N_VGG16_VALUES == 15_237_608  # "~15.2M" once CS231n's rows are added up
    # The slide's total reads "24M * 4 bytes ~= 93MB / image (only forward! ~*2 for bwd)", but
    # its own rows sum to 15.2M values = 61 MB. torchvision adds one stored map CS231n does not
    # have: AdaptiveAvgPool2d(7) copies the 7x7x512 pool5 output (25,088 values). Its in-place
    # ReLUs and its Dropouts (identities at inference) store nothing new.
    assert vgg16_summary.activation_values == CS231N_VGG16_VALUES + 25_088
    assert vgg16_summary.forward_activation_bytes == (CS231N_VGG16_VALUES + 25_088) * 4
    assert vgg16_summary.training_activation_bytes == 2 * vgg16_summary.forward_activation_bytes
    relus = [r for r in vgg16_summary.rows if r.kind == "ReLU"]
    assert relus and not any(r.stores_activation for r in relus)


def test_training_memory_at_a_batch_size():
    adam = summary("mnist-tutorial", batch_size=64, optimizer="adam")
    sgd = summary("mnist-tutorial", batch_size=64, optimizer="sgd")
    params = 220_234
    assert adam.param_bytes == params * 4 and adam.gradient_bytes == params * 4
    assert adam.optimizer_state_bytes == 2 * params * 4
    assert sgd.optimizer_state_bytes == params * 4
    assert adam.training_bytes == 4 * params * 4 + 64 * adam.training_activation_bytes
    assert sgd.training_bytes == adam.training_bytes - params * 4
    assert adam.inference_bytes == params * 4 + 64 * adam.forward_activation_bytes
    # non-in-place ReLUs store their output; Dropout and Flatten do not
    stored = {r.name: r.stores_activation for r in adam.rows}
    assert stored["relu1"] and not stored["drop1"] and not stored["flatten"]
    assert adam.activation_values == 784 + sum(
        r.activations for r in adam.rows if r.name in
        ("conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "fc1", "fc2"))
    assert adam.totals()["training_bytes"] == adam.training_bytes


def test_frozen_parameters_need_no_gradients_or_optimizer_state():
    model = build_model("mnist-tutorial")
    for p in model.conv1.parameters():
        p.requires_grad_(False)
    result = summary(model)  # input size from the model's architecture dict
    assert result.input_shape == (1, 28, 28)
    assert (result.trainable_params, result.frozen_params) == (220_234 - 320, 320)
    assert result.gradient_bytes == (220_234 - 320) * 4
    assert result.rows[0].trainable_params == 0 and result.rows[0].params == 320


def test_summary_errors():
    with pytest.raises(ModelError, match="layer 'features.30'"):
        summary("vgg16", "3x28x28")
    with pytest.raises(ModelError, match="optimizer='lion'"):
        summary("mnist-tiny", optimizer="lion")
    with pytest.raises(ModelError, match="batch_size"):
        summary("mnist-tiny", batch_size=0)
    with pytest.raises(ModelError, match="give input_shape"):
        summary(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3)))
    with pytest.raises(ModelError, match="C×H×W"):
        summary("mnist-tiny", "28x28")


def test_summary_keeps_the_model_mode():
    model = build_model("mnist-tiny").train()
    summary(model, (1, 28, 28))
    assert model.training


def test_summary_renders_as_text(vgg16_summary):
    text = str(vgg16_summary)
    assert "features.0" in text and "3,211,264" in text and "102,760,448" in text
    assert "138,357,544" in text and "adam state" in text
    num_classes = summary("keras-catsdogs", num_classes=5)
    assert num_classes.output_shape == (5,)


def test_no_optimizer_is_said_in_words_not_as_a_none_optimizer_with_zero_copies():
    text = str(summary("mnist-tiny", optimizer="none"))
    assert "none state" not in text and "0 copies" not in text
    assert re.search(r"optimizer state\s+none\s+no optimizer counted", text), text
    assert "optimizer state +" not in text
    assert "adam state" in str(summary("mnist-tiny", optimizer="adam"))
