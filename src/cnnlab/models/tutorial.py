"""The tutorial presets: the small CNNs of the PyTorch and Keras tutorials (workflows 1, 2, 4).

Each is an `nn.Sequential` with named layers (conv1, relu1, pool1, ..., fc1), so feature maps can
be read with a forward hook on `model.conv1` and the net can be turned fully convolutional.
The width of the first fully connected layer is computed for the requested input size (a dry
run on the meta device), so the same preset also builds for, say, 32x32 images; at the natural
size it matches the tutorial's parameter count exactly.
"""

from __future__ import annotations

import math
from collections import OrderedDict

from torch import nn

from cnnlab.errors import ModelError
from cnnlab.models.fast_modules import Dropout, Sequential
from cnnlab.models.registry import register
from cnnlab.models.output_size import check_input_size


def _flat_features(preset: str, features: list[tuple[str, nn.Module]], in_channels: int,
                   input_size: tuple[int, int]) -> int:
    """Values per image after the conv layers: the in_features of the first Linear layer."""
    shape = check_input_size(nn.Sequential(OrderedDict(features)), (in_channels, *input_size),
                             label=preset)
    return math.prod(shape)


def _mnist_tutorial_layers(preset: str, num_classes: int, in_channels: int,
                           input_size: tuple[int, int], relu_after_fc1: bool) -> nn.Sequential:
    features = [
        ("conv1", nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)),
        ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)),
        ("drop1", Dropout(0.3)),
        ("conv2", nn.Conv2d(32, 64, kernel_size=3, padding=1)),
        ("relu2", nn.ReLU()),
        ("pool2", nn.MaxPool2d(2)),
        ("drop2", Dropout(0.2)),
    ]
    flat = _flat_features(preset, features, in_channels, input_size)  # 64*7*7 = 3136
    classifier = [("flatten", nn.Flatten()), ("fc1", nn.Linear(flat, 64))]
    if relu_after_fc1:
        classifier.append(("relu3", nn.ReLU()))
    classifier += [("drop3", Dropout(0.2)), ("fc2", nn.Linear(64, num_classes))]
    return Sequential(OrderedDict(features + classifier))


@register("mnist-tutorial",
          description="PyTorch MNIST tutorial CNN, exactly: 2 conv blocks with dropout, "
                      "FC 64 → dropout → FC 10 (220,234 params)",
          input_size=28, in_channels=1, num_classes=10,
          source="PyTorch MNIST CNN tutorial (workflow 1)")
def mnist_tutorial(num_classes: int, in_channels: int,
                   input_size: tuple[int, int]) -> nn.Sequential:
    """Conv(1→32,3,p1)-ReLU-MaxPool2-Dropout0.3-Conv(32→64,3,p1)-ReLU-MaxPool2-Dropout0.2-
    Flatten-Linear(3136→64)-Dropout0.2-Linear(64→10).

    The tutorial's forward has no activation between its two Linear layers
    (x = fc1(x); x = dropout3(x); x = fc2(x)), so neither has this preset: fc1 and fc2 compose
    to one linear map (rank ≤ 64) with dropout in between. `mnist-tutorial-relu` is the variant
    with a ReLU after fc1.
    """
    return _mnist_tutorial_layers("mnist-tutorial", num_classes, in_channels, input_size,
                                  relu_after_fc1=False)


@register("mnist-tutorial-relu",
          description="mnist-tutorial with a ReLU after fc1 (a variant, not the tutorial; "
                      "220,234 params)",
          input_size=28, in_channels=1, num_classes=10,
          source="variant of the PyTorch MNIST CNN tutorial (workflow 1)")
def mnist_tutorial_relu(num_classes: int, in_channels: int,
                        input_size: tuple[int, int]) -> nn.Sequential:
    """`mnist-tutorial` with a ReLU between fc1 and its dropout: ...-Linear(3136→64)-ReLU-
    Dropout0.2-Linear(64→10). The ReLU has no parameters, so the count is the same 220,234;
    it makes the classifier a one-hidden-layer MLP instead of a low-rank linear map.
    """
    return _mnist_tutorial_layers("mnist-tutorial-relu", num_classes, in_channels, input_size,
                                  relu_after_fc1=True)


@register("mnist-tiny",
          description="Tiny MNIST CNN: conv 8 and 16 maps, one Linear layer (9,098 params)",
          input_size=28, in_channels=1, num_classes=10,
          source="tiny PyTorch MNIST tutorial (workflow 2)")
def mnist_tiny(num_classes: int, in_channels: int, input_size: tuple[int, int]) -> nn.Sequential:
    """Conv(1→8,3,p1)-ReLU-MaxPool2-Conv(8→16,3,p1)-ReLU-MaxPool2-Flatten-Linear(784→10)."""
    features = [
        ("conv1", nn.Conv2d(in_channels, 8, kernel_size=3, padding=1)),
        ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(8, 16, kernel_size=3, padding=1)),
        ("relu2", nn.ReLU()),
        ("pool2", nn.MaxPool2d(2)),
    ]
    flat = _flat_features("mnist-tiny", features, in_channels, input_size)  # 16*7*7 = 784
    return Sequential(OrderedDict(
        features + [("flatten", nn.Flatten()), ("fc", nn.Linear(flat, num_classes))]))


@register("keras-mnist",
          description="Keras book MNIST convnet: Conv32-Pool-Conv64-Pool-Conv64-Dense64 "
                      "(93,322 params)",
          input_size=28, in_channels=1, num_classes=10,
          source="Deep Learning with Python, ch. 5.1 (workflow 4)")
def keras_mnist(num_classes: int, in_channels: int, input_size: tuple[int, int]) -> nn.Sequential:
    """Conv32(3x3)-ReLU-MaxPool2-Conv64-ReLU-MaxPool2-Conv64-ReLU-Flatten-Dense64-ReLU-Dense10.

    Keras' default 'valid' padding: 28 → 26 → 13 → 11 → 5 → 3, so 3*3*64 = 576 values reach
    the first dense layer. Keras flattens channels-last (H, W, C) while PyTorch flattens
    (C, H, W): the same 576 numbers in another order, which changes no count or accuracy, but
    Keras weights could not be copied into fc1 without permuting its columns.
    """
    features = [
        ("conv1", nn.Conv2d(in_channels, 32, kernel_size=3)),
        ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(32, 64, kernel_size=3)),
        ("relu2", nn.ReLU()),
        ("pool2", nn.MaxPool2d(2)),
        ("conv3", nn.Conv2d(64, 64, kernel_size=3)),
        ("relu3", nn.ReLU()),
    ]
    flat = _flat_features("keras-mnist", features, in_channels, input_size)  # 64*3*3 = 576
    classifier = [
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(flat, 64)),
        ("relu4", nn.ReLU()),
        ("fc2", nn.Linear(64, num_classes)),
    ]
    return Sequential(OrderedDict(features + classifier))


@register("keras-catsdogs",
          description="Keras book dogs-vs-cats convnet at 150x150, one sigmoid logit "
                      "(3,453,121 params)",
          input_size=150, in_channels=3, num_classes=2,
          source="Deep Learning with Python, ch. 5.2 (workflow 4)")
def keras_catsdogs(num_classes: int, in_channels: int, input_size: tuple[int, int],
                   dropout: float = 0.0, binary_head: bool = True) -> nn.Sequential:
    """Conv32-Pool-Conv64-Pool-Conv128-Pool-Conv128-Pool (3x3 valid, ReLU, 2x2 max-pool),
    Flatten, [Dropout], Dense512-ReLU, Dense(1).

    150 → 148 → 74 → 72 → 36 → 34 → 17 → 15 → 7: 7*7*128 = 6272 values reach Dense512.
    `dropout=0.5` gives the book's second version (dropout before the dense layer, used with
    augmentation); the default 0 is its first version.

    Head: with 2 classes and `binary_head=True` (the book's form, 3,453,121 parameters) the
    model ends in ONE logit and `model.binary_output` is True. A trainer must then use
    `BCEWithLogitsLoss` with float targets (class index 1, the second class name in sorted
    order, e.g. 'dogs' after 'cats', is the positive class) and predict class 1 where
    sigmoid(logit) > 0.5, i.e. logit > 0. With `binary_head=False` or any other class count
    the head has `num_classes` logits for cross-entropy (3,453,634 parameters for 2 classes).
    """
    if not 0.0 <= dropout < 1.0:
        raise ModelError(f"keras-catsdogs: dropout={dropout!r}, expected 0 <= dropout < 1")
    features = []
    for i, (c_in, c_out) in enumerate([(in_channels, 32), (32, 64), (64, 128), (128, 128)], 1):
        features += [
            (f"conv{i}", nn.Conv2d(c_in, c_out, kernel_size=3)),
            (f"relu{i}", nn.ReLU()),
            (f"pool{i}", nn.MaxPool2d(2)),
        ]
    flat = _flat_features("keras-catsdogs", features, in_channels, input_size)  # 6272
    binary = num_classes == 2 and binary_head
    classifier = [("flatten", nn.Flatten())]
    if dropout > 0:
        classifier.append(("drop", Dropout(dropout)))
    classifier += [
        ("fc1", nn.Linear(flat, 512)),
        ("relu5", nn.ReLU()),
        ("fc2", nn.Linear(512, 1 if binary else num_classes)),
    ]
    model = Sequential(OrderedDict(features + classifier))
    model.binary_output = binary
    return model
