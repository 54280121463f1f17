"""Your own model: an import path `package.module:factory`, as Lightning's `class_path` and
uvicorn's `module:app` name code.

    cnnlab train --model mypkg.nets:SmallNet --model-arg width=32
    fit(model=SmallNet)          # a class: recorded as its import path
    fit(model=SmallNet(32))      # an instance: trained as it is (see `as_model_setting`)

The factory (a class or a function returning an `nn.Module`) is called with the keyword
arguments it declares among `num_classes`, `in_channels` and `input_size` (a (height, width)
pair), filled from the data, plus the `--model-arg` options. A checkpoint records the import
path and those options, never a pickle; any later verb rebuilds the model by importing the
path again, and says which module to install when that import fails. The folder you run
cnnlab from is importable, as it is for `python -m` and uvicorn.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from typing import Any, Callable

from torch import nn

from cnnlab.errors import ModelError

# package.module:attribute(.attribute): dotted Python identifiers on both sides of one colon.
_IDENTIFIERS = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
IMPORT_PATH = re.compile(rf"^({_IDENTIFIERS}):({_IDENTIFIERS})$")
SIZE_ARGUMENTS = ("num_classes", "in_channels", "input_size")


def is_import_path(name: str) -> bool:
    """True for 'package.module:factory' (the registry checks its own prefixes first)."""
    return bool(IMPORT_PATH.match(name.strip()))


class CodeNotImportable(ModelError):
    """The module of a model's import path cannot be imported here (not installed, not on the path)."""


def import_factory(path: str) -> Callable[..., Any]:
    """The object an import path names; a `CodeNotImportable` naming the module when it is not here."""
    match = IMPORT_PATH.match(path.strip())
    if match is None:
        raise ModelError(f"model {path!r}: expected an import path package.module:factory")
    module_name, attribute = match.groups()
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())  # the folder cnnlab runs in, as `python -m` and uvicorn see it
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise CodeNotImportable(
            f"model {path!r}: cannot import the module {module_name!r} ({type(e).__name__}: {e}); the model is your "
            f"code, so install the package that provides {module_name!r} or run from the folder that holds it "
            "(or add it to PYTHONPATH)") from None
    obj: Any = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise CodeNotImportable(f"model {path!r}: the module {module_name!r} has no {attribute!r} "
                                    f"(was it renamed?)")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ModelError(f"model {path!r}: {attribute} is a {type(obj).__name__}, not a class or function")
    return obj


def import_path_of(obj: Any) -> str | None:
    """'module:QualName' of a class or function that importing that path gives back, else None
    (defined in __main__, in a notebook cell, or inside a function)."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", "")
    if not module or module == "__main__" or "<locals>" in qualname:
        return None
    path = f"{module}:{qualname}"
    try:
        return path if import_factory(path) is obj else None
    except ModelError:
        return None


def _nominal_path(obj: Any) -> str:
    """'module:Name' for code without a working import path (the checkpoint records where it was
    defined; rebuilding fails with that name and the run's TorchScript copy stands in)."""
    module = getattr(obj, "__module__", None) or "__main__"
    qualname = str(getattr(obj, "__qualname__", "model")).replace("<locals>.", "")
    return f"{module}:{qualname}"


def _declared(factory: Callable[..., Any]) -> tuple[dict[str, inspect.Parameter], bool]:
    try:
        params = dict(inspect.signature(factory).parameters)
    except (TypeError, ValueError):  # some builtins have no signature: pass nothing but the options
        return {}, False
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return params, takes_any


def size_arguments(factory: Callable[..., Any], num_classes: int, in_channels: int,
                   input_size: tuple[int, int]) -> dict[str, Any]:
    """The size arguments the factory declares (all three when it takes **kwargs)."""
    params, takes_any = _declared(factory)
    given = {"num_classes": num_classes, "in_channels": in_channels, "input_size": tuple(input_size)}
    return {k: v for k, v in given.items() if takes_any or k in params}


def natural_sizes(factory: Callable[..., Any]) -> tuple[int, int, Any, bool]:
    """(num_classes, in_channels, input_size, flexible) from the factory's own defaults; without a
    default input_size the model is taken to accept the data's size as it comes."""
    params, _ = _declared(factory)

    def default(name: str, fallback: Any) -> Any:
        p = params.get(name)
        return fallback if p is None or p.default is inspect.Parameter.empty else p.default

    input_size = default("input_size", None)
    return default("num_classes", 10), default("in_channels", 3), input_size or 224, input_size is None


def resolve_import_path(path: str) -> tuple[dict[str, Any], Callable[..., nn.Module]]:
    """(the registry's ModelInfo fields, builder) of an import path, for the registry's one door."""
    from cnnlab.shapes import as_hw

    factory = import_factory(path)
    num_classes, in_channels, input_size, flexible = natural_sizes(factory)
    info = {"name": path.strip(), "description": f"your model {path.strip()}", "input_size": as_hw(input_size),
            "in_channels": in_channels, "num_classes": num_classes, "source": f"{path.strip()} (your code)",
            "flexible_input": flexible}

    def build(num_classes: int, in_channels: int, input_size: tuple[int, int], **kwargs: Any) -> nn.Module:
        try:
            model = factory(**size_arguments(factory, num_classes, in_channels, input_size), **kwargs)
        except TypeError as e:
            raise ModelError(f"model {path!r}: calling it with {sorted(kwargs)} and the data's sizes failed: {e}") from e
        if not isinstance(model, nn.Module):
            raise ModelError(f"model {path!r}: returned a {type(model).__name__}, not a torch nn.Module")
        return model

    return info, build


def as_model_setting(model: Any) -> tuple[str, Any]:
    """What `fit(model=...)` was given, as (the `model` setting, the object to build from or None).

    A name or import path stays as it is. A class or factory function becomes its import path
    when it has one; otherwise (defined in a script's __main__ or a notebook) it is returned, to
    be called once with the data's sizes and trained as an instance. An instance is trained as it is, with its current weights; its
    checkpoint records its class's import path, which rebuilds it when that class can be built
    from the data's sizes alone, and the run folder gets a TorchScript file for the verbs that
    can work without the code.
    """
    if isinstance(model, str):
        return model, None
    if isinstance(model, nn.Module):
        return import_path_of(type(model)) or _nominal_path(type(model)), model
    if callable(model):
        path = import_path_of(model)
        if path is not None:
            return path, None
        return _nominal_path(model), model
    raise ModelError(f"model: {model!r} (expected a model name, an import path package.module:factory, "
                     "an nn.Module class, or an nn.Module instance)")
