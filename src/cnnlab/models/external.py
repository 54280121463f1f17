"""torchvision and timm models behind the registry's one door.

`torchvision:<name>` builds any torchvision classification model and `timm:<name>` any timm
model, randomly initialised (`weights=None` / `pretrained=False` unless the caller passes
otherwise). Both take `num_classes`; timm also takes `in_chans`, while for torchvision a
different channel count means replacing the first convolution (`replace_first_conv`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import torch
from torch import nn

from cnnlab.errors import ModelError, did_you_mean
from cnnlab.models.registry import ModelInfo, register_family


def replace_first_conv(model: nn.Module, in_channels: int) -> nn.Module:
    """Make `model` take `in_channels` input channels by replacing its first Conv2d, in place.

    The new convolution keeps every other hyper-parameter (out channels, kernel, stride,
    padding, dilation, bias, padding mode). Its weights come from the old ones the way timm
    adapts pretrained stems (`timm.models.adapt_input_conv`): summed over RGB for one channel,
    repeated and rescaled by 3/in_channels otherwise, so pretrained filters stay useful and the
    scale of a random initialisation is kept. Models with a `transform_input` flag (GoogLeNet,
    Inception) assume RGB there, so the flag is switched off.
    """
    from timm.models import adapt_input_conv

    found = next(((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)
    if found is None:
        raise ModelError(f"{type(model).__name__} has no Conv2d layer whose input channels "
                         "could be changed")
    name, conv = found
    if conv.in_channels == in_channels:
        return model
    if conv.groups != 1:
        raise ModelError(f"{type(model).__name__}: the first convolution '{name}' is grouped "
                         f"(groups={conv.groups}); cannot change its input channels")
    new = nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                    padding=conv.padding, dilation=conv.dilation, bias=conv.bias is not None,
                    padding_mode=conv.padding_mode, device=conv.weight.device,
                    dtype=conv.weight.dtype)
    with torch.no_grad():
        new.weight.copy_(adapt_input_conv(in_channels, conv.weight))
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)
    if hasattr(model, "transform_input"):
        model.transform_input = False
    return model


@lru_cache(maxsize=1)
def _torchvision_names() -> tuple[str, ...]:
    import torchvision

    return tuple(torchvision.models.list_models(module=torchvision.models))


def torchvision_model(name: str, num_classes: int, in_channels: int = 3,
                      **kwargs: Any) -> nn.Module:
    """A torchvision classification model, random weights unless `weights=` is passed."""
    import torchvision

    if name not in _torchvision_names():
        raise ModelError(f"unknown torchvision model {name!r}"
                         f"{did_you_mean(name, list(_torchvision_names()))}; "
                         "torchvision.models.list_models(module=torchvision.models) lists them")
    kwargs.setdefault("weights", None)
    model = torchvision.models.get_model(name, num_classes=num_classes, **kwargs)
    return replace_first_conv(model, in_channels) if in_channels != 3 else model


def timm_model(name: str, num_classes: int, in_channels: int = 3, **kwargs: Any) -> nn.Module:
    """A timm model (`timm.create_model`), random weights unless `pretrained=True` is passed."""
    import timm

    if not timm.is_model(name):
        raise ModelError(f"unknown timm model {name!r}{did_you_mean(name, timm.list_models())}; "
                         "timm.list_models('*pattern*') lists them")
    kwargs.setdefault("pretrained", False)
    return timm.create_model(name, num_classes=num_classes, in_chans=in_channels, **kwargs)


def _torchvision_input_size(name: str) -> int:
    """The crop size of the model's default ImageNet weights (224, or 299 for Inception v3)."""
    import torchvision

    try:
        weights = torchvision.models.get_model_weights(name).DEFAULT
        return int(weights.transforms.keywords.get("crop_size", 224))
    except (ValueError, AttributeError, KeyError):
        return 224


@register_family("torchvision", description="any torchvision classification model, e.g. "
                 "torchvision:resnet34 (random init; first conv replaced for in_channels != 3)")
def resolve_torchvision(name: str) -> tuple[ModelInfo, Any]:
    if name not in _torchvision_names():
        raise ModelError(f"unknown torchvision model {name!r}"
                         f"{did_you_mean(name, list(_torchvision_names()))}")
    info = ModelInfo(f"torchvision:{name}", f"torchvision {name}",
                     (_torchvision_input_size(name),) * 2, 3, 1000, f"torchvision.models.{name}",
                     flexible_input=True)

    def build(num_classes: int, in_channels: int, input_size: tuple[int, int],
              **kwargs: Any) -> nn.Module:
        return torchvision_model(name, num_classes, in_channels, **kwargs)

    return info, build


@register_family("timm", description="any timm model, e.g. timm:convnext_tiny (random init, "
                 "in_chans passed through)")
def resolve_timm(name: str) -> tuple[ModelInfo, Any]:
    import timm

    if not timm.is_model(name):
        raise ModelError(f"unknown timm model {name!r}{did_you_mean(name, timm.list_models())}")
    cfg = timm.models.get_pretrained_cfg(name)
    channels, height, width = cfg.input_size if cfg is not None else (3, 224, 224)
    info = ModelInfo(f"timm:{name}", f"timm {name}", (height, width), channels, 1000,
                     f"timm.create_model({name!r})", flexible_input=True)

    def build(num_classes: int, in_channels: int, input_size: tuple[int, int],
              **kwargs: Any) -> nn.Module:
        return timm_model(name, num_classes, in_channels, **kwargs)

    return info, build
