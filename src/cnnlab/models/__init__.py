"""Models: the registry of presets, the pattern builder, per-layer summaries and size arithmetic.

    from cnnlab.models import build_model, list_models, model_info, summary, load_pretrained
    model = build_model("mnist-tutorial")                # 220,234 parameters, 1x28x28 → 10
    model = build_model("spec:conv32k3 relu maxpool2 fc10")
    print(summary("vgg16", "3x224x224"))                 # CS231n's VGG-16 table
    imagenet = load_pretrained("efficientnet_lite0")     # ImageNet weights that ship offline

The rest is importable from its module:
    catalogue            the presets read from their declarations without torch (`cnnlab models`)
    info                 ModelInfo
    registry             register, register_family, ModelInfo, model_families,
                         architecture_dict, build_from_architecture (the one door)
    architecture         the architecture dict a checkpoint stores (`model.cnnlab_architecture`)
    tutorial, classic    the presets; pattern: the INPUT→[[CONV→RELU]*N→POOL?]*M→[FC→RELU]*K→FC
                         builder (parse_spec, build_from_spec); external: torchvision:/timm: names
    transfer             backbones with new heads, freezing and unfreezing
    pretrained_weights   where ImageNet weights come from and how they load
    output_size          conv_output_size ((W−F+2P)/S+1), check_input_size, dry_run
    receptive_field      receptive_fields
    summary              ModelSummary, LayerRow: the per-layer table and its memory totals
    tracing              the forward-hook tracer behind the summary, the checks and explain
    fully_convolutional  to_fully_convolutional: FC layers as convolutions
    fast_modules         Dropout and Sequential, faster drop-ins for torch's
Sizes: an input size is (height, width), an input shape (channels, height, width) (`cnnlab.shapes`).
"""

from __future__ import annotations

import importlib
from typing import Any

# The names are re-exported lazily (PEP 562): importing `cnnlab.models.catalogue` runs this
# file, and `cnnlab models` must list the presets without importing torch.
_EXPORTS = {
    "build_model": "cnnlab.models.registry",
    "list_models": "cnnlab.models.registry",
    "model_info": "cnnlab.models.registry",
    "load_pretrained": "cnnlab.models.pretrained",
    "summary": "cnnlab.models.summary",
}

__all__ = ["build_model", "list_models", "load_pretrained", "model_info", "summary"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cnnlab.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
