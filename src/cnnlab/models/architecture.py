"""The architecture dict: a model as the plain values a checkpoint stores to rebuild it.

    {"name": "mnist-tutorial", "num_classes": 10, "in_channels": 1, "input_size": [28, 28],
     "kwargs": {}}

`build_model` leaves this record on every model it builds (`model.cnnlab_architecture`), and
`build_from_architecture` turns one back into the same model; both live in the registry, the
one door that builds models. This module holds the format: which keys, and which values are
storable (JSON/YAML-safe: str, int, finite float, bool, None, lists and dicts of them).
"""

from __future__ import annotations

import math
from typing import Any

from cnnlab.errors import ModelError

ARCHITECTURE_KEYS = ("name", "num_classes", "in_channels", "input_size", "kwargs")


def storable(value: Any, where: str) -> Any:
    """`value` as JSON/YAML-safe data (tuples become lists) or a ModelError naming `where`."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ModelError(f"{where}={value!r}: not storable (only finite numbers)")
        return value
    if isinstance(value, (list, tuple)):
        return [storable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ModelError(f"{where}: key {k!r} is not a string, so it is not storable")
            out[k] = storable(v, f"{where}.{k}")
        return out
    raise ModelError(
        f"{where}={value!r}: a {type(value).__name__} cannot be stored in a checkpoint's "
        "architecture dict; use str/int/float/bool/None, lists and dicts")


def architecture_record(name: str, num_classes: int, in_channels: int,
                        input_size: tuple[int, int], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The architecture dict of resolved build arguments (ModelError if an option is not storable)."""
    return {
        "name": name.strip(),
        "num_classes": num_classes,
        "in_channels": in_channels,
        "input_size": list(input_size),
        "kwargs": storable(kwargs, "kwargs"),
    }


def read_architecture(architecture: Any) -> tuple[str, int, int, Any, dict[str, Any]]:
    """(name, num_classes, in_channels, input_size, kwargs) of an architecture dict, checked."""
    if not isinstance(architecture, dict):
        raise ModelError(f"architecture: expected a dict with keys {ARCHITECTURE_KEYS}, "
                         f"got {type(architecture).__name__}")
    unknown = sorted(set(architecture) - set(ARCHITECTURE_KEYS))
    missing = [k for k in ARCHITECTURE_KEYS[:4] if k not in architecture]
    if unknown or missing:
        raise ModelError(f"architecture dict: missing keys {missing}, unknown keys {unknown}; "
                         f"expected {list(ARCHITECTURE_KEYS)}")
    kwargs = architecture.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise ModelError(f"architecture dict: 'kwargs' must be a dict, got {kwargs!r}")
    input_size = architecture["input_size"]
    if isinstance(input_size, list):
        input_size = tuple(input_size)
    return (architecture["name"], architecture["num_classes"], architecture["in_channels"],
            input_size, kwargs)
