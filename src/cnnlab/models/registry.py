"""The model registry: one table of named presets and one door to build them (timm style).

A preset is a short function that returns an `nn.Module`, registered with its natural input
next to its relatives (`tutorial.py`, `classic.py`):

    @register("mnist-tiny", description="...", input_size=28, in_channels=1, num_classes=10,
              source="...")
    def mnist_tiny(num_classes, in_channels, input_size):
        return nn.Sequential(...)

Every builder is called the same way, `builder(num_classes=, in_channels=, input_size=, **kw)`,
with `input_size` as a (height, width) pair. Names with a prefix are resolved by a family
instead of a table row: `spec:<pattern>` (the pattern builder), `torchvision:<name>` and
`timm:<name>`; any other `package.module:factory` is your own code (`cnnlab.models.user_code`).

Checkpoints store a model as a plain dict: `architecture_dict(...)` makes one (JSON/YAML-safe
values only) and `build_from_architecture(d)` builds the same model from it. `build_model`
also leaves that dict on the model as `model.cnnlab_architecture` (None when an option is not
JSON-safe), and sets `model.binary_output` (True only for a one-logit sigmoid head).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from cnnlab.errors import ModelError, did_you_mean
from cnnlab.models.architecture import architecture_record, read_architecture
from cnnlab.models.catalogue import PRESET_MODULES
from cnnlab.models.info import ModelInfo
from cnnlab.models.pretrained_weights import load_pretrained_weights
from cnnlab.shapes import as_hw

Builder = Callable[..., nn.Module]

@dataclass(frozen=True)
class _Entry:
    info: ModelInfo
    builder: Builder


@dataclass(frozen=True)
class _Family:
    prefix: str
    description: str
    placeholder: str  # what follows the prefix, e.g. "<name>"
    resolve: Callable[[str], _Entry]  # the text after "prefix:" -> entry


_REGISTRY: dict[str, _Entry] = {}
_FAMILIES: dict[str, _Family] = {}
_loaded = False


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        # Importing these modules registers every preset and family (the list: cnnlab.models.catalogue).
        for module in PRESET_MODULES:
            importlib.import_module(module)


def register(
    name: str,
    *,
    description: str,
    input_size: tuple[int, int] | int,
    in_channels: int,
    num_classes: int,
    source: str,
    flexible_input: bool = False,
) -> Callable[[Builder], Builder]:
    """Decorator: add a preset builder to the registry under `name` with its natural input."""
    info = ModelInfo(name, description, as_hw(input_size), in_channels, num_classes, source, flexible_input)

    def decorator(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is registered twice")
        _REGISTRY[name] = _Entry(info, builder)
        return builder

    return decorator


def register_family(prefix: str, *, description: str, placeholder: str = "<name>",
                    ) -> Callable[[Callable[[str], tuple[ModelInfo, Builder]]], Callable]:
    """Decorator: names `prefix:<rest>` are resolved by the decorated `resolve(rest)`.

    `resolve` returns (ModelInfo, builder) or raises ModelError for an unknown rest.
    """

    def decorator(resolve: Callable[[str], tuple[ModelInfo, Builder]]) -> Callable:
        def to_entry(rest: str) -> _Entry:
            info, builder = resolve(rest)
            return _Entry(info, builder)

        _FAMILIES[prefix] = _Family(prefix, description, placeholder, to_entry)
        return resolve

    return decorator


def _lookup(name: str) -> _Entry:
    _ensure_loaded()
    if not isinstance(name, str) or not name.strip():
        raise ModelError(f"model name {name!r}: expected a registry name such as 'mnist-tutorial'")
    name = name.strip()
    prefix, sep, rest = name.partition(":")
    if sep and prefix.lower() in _FAMILIES:
        if not rest.strip():
            raise ModelError(f"model name {name!r}: nothing after '{prefix}:'")
        return _FAMILIES[prefix.lower()].resolve(rest.strip())
    if sep:
        from cnnlab.models.user_code import is_import_path, resolve_import_path

        if is_import_path(name):  # your own model: package.module:factory
            fields, builder = resolve_import_path(name)
            return _Entry(ModelInfo(**fields), builder)
    entry = _REGISTRY.get(name) or _REGISTRY.get(name.lower())
    if entry is None:
        families = ", ".join(f"{f.prefix}:{f.placeholder}" for f in _FAMILIES.values())
        raise ModelError(
            f"unknown model {name!r}{did_you_mean(name.lower(), list(_REGISTRY))}. "
            f"`cnnlab models` lists the presets; other names take a prefix: {families}, "
            "or are your own code as an import path package.module:factory"
        )
    return entry


def list_models(filter: str | None = None) -> list[str]:
    """Registered preset names (in registration order), optionally those containing `filter`.

    Prefixed families (`spec:`, `torchvision:`, `timm:`) are not enumerated: see `model_families`.
    """
    _ensure_loaded()
    names = list(_REGISTRY)
    if filter:
        names = [n for n in names if filter.lower() in n.lower()
                 or filter.lower() in _REGISTRY[n].info.description.lower()]
    return names


def model_families() -> dict[str, str]:
    """Prefixed names resolved on demand and what each builds: {'timm:<name>': '...', ...}."""
    _ensure_loaded()
    return {f"{f.prefix}:{f.placeholder}": f.description for f in _FAMILIES.values()}


def model_info(name: str) -> ModelInfo:
    """Description, natural input size and channels, default classes and source of a model name."""
    return _lookup(name).info


def _resolve_arguments(
    info: ModelInfo,
    num_classes: int | None,
    in_channels: int | None,
    input_size: tuple[int, int] | int | None,
) -> tuple[int, int, tuple[int, int]]:
    num_classes = info.num_classes if num_classes is None else num_classes
    in_channels = info.in_channels if in_channels is None else in_channels
    input_size = info.input_size if input_size is None else as_hw(input_size)
    for what, value in (("num_classes", num_classes), ("in_channels", in_channels)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ModelError(f"{info.name}: {what}={value!r}, expected a positive int")
    return num_classes, in_channels, input_size


def _check_options(entry: _Entry, kwargs: dict[str, Any]) -> None:
    """Unknown keyword options become a ModelError that lists the accepted ones."""
    params = inspect.signature(entry.builder).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return  # passed through to torchvision / timm, which check them
    accepted = [p for p in params if p not in ("num_classes", "in_channels", "input_size")]
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise ModelError(
            f"{entry.info.name}: unknown option {unknown[0]!r}"
            f"{did_you_mean(unknown[0], accepted)}; accepted options: "
            f"{', '.join(accepted) if accepted else 'none'}"
        )


def build_model(
    name: str,
    num_classes: int | None = None,
    in_channels: int | None = None,
    input_size: tuple[int, int] | int | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a model by registry name, randomly initialised.

    `num_classes`, `in_channels` and `input_size` (an int or (height, width)) default to the
    preset's natural values (`model_info(name)`): 10 classes at 1x28x28 for the MNIST presets,
    1000 classes at 3x224x224 for the ImageNet architectures. Extra keyword options go to the
    preset (e.g. `dropout=0.5` for keras-catsdogs) or, for torchvision/timm models, to their
    constructors. Unknown names raise a ModelError with the closest names.
    `weights="imagenet"` (or a path to a state dict) loads pretrained weights
    (`cnnlab.models.pretrained`); with the 1000 ImageNet classes the model keeps its pretrained
    head and gets `model.class_names`. Weights are data, not architecture: they are not part of
    `model.cnnlab_architecture`.
    """
    weights = kwargs.pop("weights") if isinstance(kwargs.get("weights"), str) else None
    entry = _lookup(name)
    num_classes, in_channels, input_size = _resolve_arguments(
        entry.info, num_classes, in_channels, input_size)
    _check_options(entry, kwargs)
    try:
        model = entry.builder(num_classes=num_classes, in_channels=in_channels,
                              input_size=input_size, **kwargs)
    except TypeError as e:
        if "unexpected keyword argument" in str(e):
            raise ModelError(f"{entry.info.name}: {e}") from e
        raise
    try:
        model.cnnlab_architecture = architecture_record(
            entry.info.name, num_classes, in_channels, input_size, kwargs)
    except ModelError:
        model.cnnlab_architecture = None  # an option (e.g. a layer class) is not storable
    model.binary_output = bool(getattr(model, "binary_output", False))
    if weights is not None:
        load_pretrained_weights(model, entry.info, weights)
    return model


def architecture_dict(
    name: str,
    num_classes: int | None = None,
    in_channels: int | None = None,
    input_size: tuple[int, int] | int | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """The plain dict (JSON/YAML-safe) that `build_from_architecture` turns back into the model.

    What `build_model` would leave on the model as `model.cnnlab_architecture`, without building
    it. Defaults are resolved, so the dict names every value explicitly:
    {"name": "mnist-tutorial", "num_classes": 10, "in_channels": 1, "input_size": [28, 28],
     "kwargs": {}} (the format: `cnnlab.models.architecture`).
    """
    entry = _lookup(name)
    num_classes, in_channels, input_size = _resolve_arguments(
        entry.info, num_classes, in_channels, input_size)
    _check_options(entry, kwargs)
    return architecture_record(name, num_classes, in_channels, input_size, kwargs)


def build_from_architecture(architecture: dict[str, Any]) -> nn.Module:
    """Build the model an `architecture_dict` describes (e.g. one read from a checkpoint)."""
    name, num_classes, in_channels, input_size, kwargs = read_architecture(architecture)
    return build_model(name, num_classes, in_channels, input_size, **kwargs)
