"""Fully connected layers turned into convolutions, so a classifier slides over a larger image.

CS231n: an FC layer that looks at a C×H×W feature map is a convolution with H×W filters and no
padding, and every later FC layer is a 1×1 convolution. The converted net gives the same
scores on the training size (a 1×1 map) and, on a larger image, a map of scores in one pass:
one cell per position of the training-size window, moved by the net's total stride. AlexNet
trained at 224×224 (stride 32) scores a 384×384 image as a 6×6 map: (384 - 224)/32 + 1 = 6.
"""

from __future__ import annotations

import copy
from collections import OrderedDict

import torch
from torch import nn

from cnnlab.errors import ModelError
from cnnlab.models.fast_modules import Sequential
from cnnlab.models.output_size import check_input_size
from cnnlab.models.receptive_field import receptive_fields
from cnnlab.shapes import as_chw, format_shape

# Layers that act on each value (or each channel) alone: the same on a vector and on a map.
_ELEMENTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU,
                nn.Hardswish, nn.Tanh, nn.Sigmoid, nn.Identity, nn.Dropout)


def _split_sequential(model: nn.Sequential) -> tuple[list, list]:
    children = list(model.named_children())
    at = next((i for i, (_, m) in enumerate(children) if isinstance(m, nn.Flatten)), None)
    if at is None:
        raise ModelError("to_fully_convolutional: this nn.Sequential has no nn.Flatten layer "
                         "between its convolutional part and its fully connected part")
    flatten = children[at][1]
    if flatten.start_dim != 1 or flatten.end_dim != -1:
        raise ModelError("to_fully_convolutional: the Flatten layer must flatten dims 1..-1")
    return children[:at], children[at + 1:]


def _split_features_classifier(model: nn.Module, shape: tuple[int, int, int]) -> tuple[list, list]:
    """torchvision VGG/AlexNet: features → AdaptiveAvgPool2d → flatten → classifier."""
    features_shape = check_input_size(model.features, shape)
    pool = model.avgpool
    target = pool.output_size if isinstance(pool.output_size, tuple) else (pool.output_size,) * 2
    if tuple(features_shape[1:]) != tuple(target):
        raise ModelError(
            f"to_fully_convolutional: at input {format_shape(shape)} the features are "
            f"{format_shape(features_shape)} and the adaptive pool resizes them to "
            f"{target[0]}×{target[1]}; the conversion is exact only at the size where that pool "
            f"changes nothing (224×224 for VGG and AlexNet), so give that training size")
    # At the training size the adaptive pool is an identity. Kept, it would squash every larger
    # map back to its fixed size and the net could not slide; so it is dropped.
    features = [("features", model.features), ("avgpool", nn.Identity())]
    return features, [("classifier", model.classifier)]


def _convert_head(head: list[tuple[str, nn.Module]], map_shape: tuple[int, int, int],
                  ) -> tuple[list[tuple[str, nn.Module]], tuple[int, int, int]]:
    """Linear → Conv2d whose kernel covers the whole current map (H×W for the first FC layer,
    1×1 after it); returns the converted layers and the map shape they leave."""
    converted = []
    for name, module in head:
        if isinstance(module, nn.Sequential):  # torchvision's classifier
            inner, map_shape = _convert_head(list(module.named_children()), map_shape)
            converted.append((name, nn.Sequential(OrderedDict(inner))))
        elif isinstance(module, nn.Linear):
            channels, height, width = map_shape
            if module.in_features != channels * height * width:
                raise ModelError(
                    f"to_fully_convolutional: layer '{name}' takes {module.in_features} inputs "
                    f"but the feature map before it is {format_shape(map_shape)}")
            conv = nn.Conv2d(channels, module.out_features, (height, width),
                             bias=module.bias is not None, device=module.weight.device,
                             dtype=module.weight.dtype)
            with torch.no_grad():
                # NCHW flattening is channel-major, so each weight row reshapes to (C, H, W).
                conv.weight.copy_(module.weight.reshape(conv.weight.shape))
                if module.bias is not None:
                    conv.bias.copy_(module.bias)
            converted.append((name, conv))
            map_shape = (module.out_features, 1, 1)
        elif isinstance(module, nn.BatchNorm1d):
            norm = nn.BatchNorm2d(module.num_features, module.eps, module.momentum,
                                  module.affine, module.track_running_stats,
                                  device=next((t.device for t in module.state_dict().values()),
                                              None))
            norm.load_state_dict(module.state_dict())
            converted.append((name, norm))
        elif isinstance(module, _ELEMENTWISE):
            converted.append((name, copy.deepcopy(module)))
        else:
            raise ModelError(f"to_fully_convolutional: cannot convert layer '{name}' "
                             f"({type(module).__name__}) after the flatten; supported: Linear, "
                             "BatchNorm1d and element-wise layers (activations, dropout)")
    return converted, map_shape


def to_fully_convolutional(model: nn.Module,
                           input_shape: tuple[int, int, int] | str) -> nn.Sequential:
    """An equivalent all-convolutional copy of `model` that slides over larger images.

    `input_shape` is the (channels, height, width) the model was built for. Supported: an
    nn.Sequential with an nn.Flatten between its conv part and its FC part (the tutorial
    presets, LeNet-5 and pattern-built models) and models shaped like torchvision's VGG and
    AlexNet (features → AdaptiveAvgPool2d → classifier), whose adaptive pool is dropped because
    it is an identity at the training size and would otherwise undo the sliding.

    The result (a copy; the original is untouched) returns (N, classes, h, w): 1×1 at the
    training size with the same scores, and on a larger image one cell per window position,
    `score_stride` input pixels apart (an attribute of the result, with `training_input_size`).
    For nets without padding each cell equals the original model on the matching crop; with
    zero padding the big image gives each window its real neighbours where a crop alone sees
    zeros at its border, so the cells are the intended sliding scores but not bit-equal to crops.
    """
    shape = as_chw(input_shape)
    if isinstance(model, nn.Sequential):
        features, head = _split_sequential(model)
    elif all(isinstance(getattr(model, a, None), m) for a, m in (
            ("features", nn.Module), ("avgpool", (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)),
            ("classifier", nn.Module))):
        features, head = _split_features_classifier(model, shape)
    else:
        raise ModelError(
            f"to_fully_convolutional supports nn.Sequential models with an nn.Flatten and "
            f"torchvision-style VGG/AlexNet (features, avgpool, classifier), not "
            f"{type(model).__name__}. (Nets that end in global average pooling, like ResNet, "
            "already take any input size but return one score vector.)")
    features = [(name, copy.deepcopy(module)) for name, module in features]
    map_shape = check_input_size(nn.Sequential(OrderedDict(features)), shape)
    if len(map_shape) != 3:
        raise ModelError(f"to_fully_convolutional: expected a C×H×W map before the flatten, got "
                         f"{format_shape(map_shape)}")
    head, _ = _convert_head(head, map_shape)
    fcn = Sequential(OrderedDict(features + head))
    fcn.train(model.training)
    fcn.training_input_size = shape[1:]
    fcn.score_stride = receptive_fields(fcn, shape)[-1].jump
    return fcn
