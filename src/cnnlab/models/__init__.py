"""Models: the registry of presets, the pattern builder, per-layer summaries and size arithmetic.

    from cnnlab.models import build_model, summary, check_input_size
    model = build_model("mnist-tutorial")                # 220,234 parameters, 1x28x28 → 10
    model = build_model("spec:conv32k3 relu maxpool2 fc10")
    print(summary("vgg16", "3x224x224"))                 # CS231n's VGG-16 table

A checkpoint stores `model.cnnlab_architecture` (see `architecture_dict`) and rebuilds the
model with `build_from_architecture`.
"""

from cnnlab.models.external import replace_first_conv
from cnnlab.models.fully_convolutional import to_fully_convolutional
from cnnlab.models.pattern import PatternSpec, SpecError, build_from_spec, parse_spec
from cnnlab.models.registry import (
    ModelInfo,
    architecture_dict,
    build_from_architecture,
    build_model,
    list_models,
    model_families,
    model_info,
    register,
)
from cnnlab.models.output_size import check_input_size, conv_output_size
from cnnlab.models.receptive_field import ReceptiveField, receptive_fields
from cnnlab.shapes import as_chw as parse_input_size
from cnnlab.models.summary import LayerRow, ModelSummary, summary

__all__ = [
    "LayerRow",
    "ModelInfo",
    "ModelSummary",
    "PatternSpec",
    "ReceptiveField",
    "SpecError",
    "architecture_dict",
    "build_from_architecture",
    "build_from_spec",
    "build_model",
    "check_input_size",
    "conv_output_size",
    "list_models",
    "model_families",
    "model_info",
    "parse_input_size",
    "parse_spec",
    "receptive_fields",
    "register",
    "replace_first_conv",
    "summary",
    "to_fully_convolutional",
]
