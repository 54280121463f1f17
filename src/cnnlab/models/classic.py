"""The classic architectures of CS231n's tour (workflow 5): LeNet-5 by hand, the rest reused.

AlexNet, VGG-16, GoogLeNet and ResNet come from torchvision and EfficientNet-Lite0 from timm,
built with random weights; only LeNet-5, which neither library has, is written here. The
torchvision models end in an adaptive average pool, so they *run* on small images only by
stretching tiny maps, or not at all (VGG-16 at 28x28): call `check_input_size` before training.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

from torch import nn

from cnnlab.errors import ModelError
from cnnlab.models.external import timm_model, torchvision_model
from cnnlab.models.fast_modules import Sequential
from cnnlab.models.registry import register
from cnnlab.models.output_size import check_input_size

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}
_POOLS = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}


@register("lenet5",
          description="LeNet-5 (LeCun 1998): 6/16/120 maps of 5x5, tanh, average pooling "
                      "(61,706 params)",
          input_size=28, in_channels=1, num_classes=10,
          source="LeCun et al. 1998, Gradient-based learning applied to document recognition")
def lenet5(num_classes: int, in_channels: int, input_size: tuple[int, int],
           activation: str = "tanh", pool: str = "avg",
           padding: int | None = None) -> nn.Sequential:
    """C1 conv 6@5x5 - S2 pool 2 - C3 conv 16@5x5 - S4 pool 2 - C5 conv 120@5x5 - F6 84 - output.

    LeNet-5 reads 32x32 images: MNIST's 28x28 digits centred in a 4-pixel border. The usual
    adaptation pads C1 by 2 instead, so `padding=None` pads by (32 - size)/2 when the input is
    smaller than 32 (2 for MNIST) and not at all otherwise. C5 is a convolution, as in the paper,
    whose 5x5 kernel covers the whole 5x5 map: its output is 120x1x1.

    Simplifications that everyone makes: C3 connects to all six S2 maps (the paper's table
    connects each to a subset: 1,516 instead of 2,416 weights), the pools have no trainable
    coefficient, and the output layer is a Linear layer rather than Euclidean RBF units.
    With these, 10 classes at 1x28x28 give 61,706 parameters.
    `activation`: 'tanh' (the paper's squashing function) or 'relu'; `pool`: 'avg' or 'max'.
    """
    if activation not in _ACTIVATIONS:
        raise ModelError(f"lenet5: activation={activation!r}, expected one of {list(_ACTIVATIONS)}")
    if pool not in _POOLS:
        raise ModelError(f"lenet5: pool={pool!r}, expected one of {list(_POOLS)}")
    if padding is None:
        padding = max(0, (32 - min(input_size)) // 2)
    act, pool_layer = _ACTIVATIONS[activation], _POOLS[pool]
    features = [
        ("c1", nn.Conv2d(in_channels, 6, kernel_size=5, padding=padding)),
        ("act1", act()),
        ("s2", pool_layer(2)),
        ("c3", nn.Conv2d(6, 16, kernel_size=5)),
        ("act2", act()),
        ("s4", pool_layer(2)),
        ("c5", nn.Conv2d(16, 120, kernel_size=5)),
        ("act3", act()),
    ]
    shape = check_input_size(nn.Sequential(OrderedDict(features)), (in_channels, *input_size),
                             label="lenet5")
    classifier = [
        ("flatten", nn.Flatten()),
        ("f6", nn.Linear(math.prod(shape), 84)),
        ("act4", act()),
        ("output", nn.Linear(84, num_classes)),
    ]
    return Sequential(OrderedDict(features + classifier))


@register("alexnet", description="AlexNet (Krizhevsky et al. 2012), torchvision's one-GPU version",
          input_size=224, in_channels=3, num_classes=1000, source="torchvision.models.alexnet", flexible_input=True)
def alexnet(num_classes: int, in_channels: int, input_size: tuple[int, int],
            **kwargs: Any) -> nn.Module:
    return torchvision_model("alexnet", num_classes, in_channels, **kwargs)


@register("vgg16", description="VGG-16 (Simonyan & Zisserman 2014): 13 3x3 convs + 3 FC "
                                "(138,357,544 params)",
          input_size=224, in_channels=3, num_classes=1000, source="torchvision.models.vgg16", flexible_input=True)
def vgg16(num_classes: int, in_channels: int, input_size: tuple[int, int],
          **kwargs: Any) -> nn.Module:
    return torchvision_model("vgg16", num_classes, in_channels, **kwargs)


@register("googlenet",
          description="GoogLeNet / Inception v1 (Szegedy et al. 2014), no auxiliary heads",
          input_size=224, in_channels=3, num_classes=1000, source="torchvision.models.googlenet", flexible_input=True)
def googlenet(num_classes: int, in_channels: int, input_size: tuple[int, int],
              **kwargs: Any) -> nn.Module:
    # init_weights=True: torchvision's default (None) warns and then inits through scipy.
    kwargs.setdefault("aux_logits", False)
    kwargs.setdefault("init_weights", True)
    return torchvision_model("googlenet", num_classes, in_channels, **kwargs)


@register("resnet18", description="ResNet-18 (He et al. 2015): basic residual blocks",
          input_size=224, in_channels=3, num_classes=1000, source="torchvision.models.resnet18", flexible_input=True)
def resnet18(num_classes: int, in_channels: int, input_size: tuple[int, int],
             **kwargs: Any) -> nn.Module:
    return torchvision_model("resnet18", num_classes, in_channels, **kwargs)


@register("resnet50", description="ResNet-50 (He et al. 2015): bottleneck residual blocks",
          input_size=224, in_channels=3, num_classes=1000, source="torchvision.models.resnet50", flexible_input=True)
def resnet50(num_classes: int, in_channels: int, input_size: tuple[int, int],
             **kwargs: Any) -> nn.Module:
    return torchvision_model("resnet50", num_classes, in_channels, **kwargs)


@register("efficientnet_lite0",
          description="EfficientNet-Lite0 (TF port): mobile inverted bottlenecks, ReLU6",
          input_size=224, in_channels=3, num_classes=1000,
          source="timm.create_model('tf_efficientnet_lite0')", flexible_input=True)
def efficientnet_lite0(num_classes: int, in_channels: int, input_size: tuple[int, int],
                       **kwargs: Any) -> nn.Module:
    return timm_model("tf_efficientnet_lite0", num_classes, in_channels, **kwargs)
