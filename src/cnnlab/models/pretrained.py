"""A pretrained ImageNet model ready to predict, and the normalisation its weights expect.

`load_pretrained("efficientnet_lite0")` gives the 1000-class ImageNet model with its class
names and preprocessing, ready for `cnnlab.inference.predict_proba`. Where the weights come
from and how they load: `cnnlab.models.pretrained_weights`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from cnnlab.models.pretrained_weights import imagenet_class_names
from cnnlab.models.registry import build_model, model_info


def imagenet_normalization(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std that a model's ImageNet weights were trained with (timm's pretrained_cfg;
    torchvision's are the classic ImageNet values; EfficientNet-Lite's TF port scales to [-1, 1])."""
    info = model_info(name)
    timm_name = None
    if info.name.startswith("timm:"):
        timm_name = info.name[5:]
    elif info.source.startswith("timm.create_model"):
        timm_name = re.search(r"'(.+?)'", info.source).group(1)
    if timm_name is not None:
        import timm

        cfg = timm.models.get_pretrained_cfg(timm_name)
        if cfg is not None:
            return tuple(cfg.mean), tuple(cfg.std)
    return (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass
class PretrainedModel:
    """An ImageNet model ready to predict: what `cnnlab.inference.predict_proba` needs."""

    model: nn.Module
    class_names: list[str]
    preprocessing: Any  # cnnlab.data.Preprocessing
    architecture: dict[str, Any] = field(default_factory=dict)
    binary_output: bool = False


def load_pretrained(name: str = "efficientnet_lite0") -> PretrainedModel:
    """The 1000-class ImageNet model `name` with its weights, class names and preprocessing
    (resize the shorter side and centre-crop to the natural input, the weights' mean/std)."""
    from cnnlab.data.transforms import Preprocessing

    model = build_model(name, weights="imagenet").eval()
    mean, std = imagenet_normalization(name)
    pre = Preprocessing(model_info(name).input_size, 3, mean, std, resize="crop")
    return PretrainedModel(model, imagenet_class_names(), pre, model.cnnlab_architecture)
