"""Typed configs from YAML: dataclasses filled from plain mappings with clear errors.

`from_mapping(Cls, mapping, where)` checks every key and value against the dataclass's type
hints: an unknown key gets a "did you mean", a wrong type names the field, the value and the
expected type. YAML is read with `yaml.safe_load`, so tags that would construct Python objects
are refused.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from cnnlab.errors import ConfigError


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML file as a mapping; refuses object-constructing tags and non-mapping documents."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config ({e.strerror or e})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML or uses a tag that is not allowed ({e})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top, got {type(data).__name__}")
    return data


def write_yaml(data: dict[str, Any], path: str | Path) -> None:
    """Write a mapping as YAML (plain types only), atomically."""
    from cnnlab.atomic import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False, default_flow_style=None))


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    if origin is not None:
        return getattr(origin, "__name__", str(origin))
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, field: str) -> Any:
    """Check `value` against type `tp`; return it (lists become tuples where a tuple is wanted)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        errors = []
        for arg in typing.get_args(tp):
            try:
                return _coerce(value, arg, field)
            except ConfigError as e:
                errors.append(e)
        raise ConfigError(f"{field}: {value!r} has the wrong type (expected {_type_name(tp)})")
    if origin is Literal:
        if value in typing.get_args(tp):
            return value
        raise ConfigError(f"{field}: {value!r} (expected {_type_name(tp)})")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{field}: expected null, got {value!r}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{field}: {value!r} (expected true or false)")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{field}: {value!r} (expected a whole number)")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{field}: {value!r} (expected a number)")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, os.PathLike):
            return str(value)
        raise ConfigError(f"{field}: {value!r} (expected text)")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{field}: {value!r} (expected a list)")
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{field}: {value!r} (expected {len(args)} values)")
            return tuple(_coerce(v, a, f"{field}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        out = [_coerce(v, item, f"{field}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{field}: {value!r} (expected a mapping)")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{field}: {value!r} (expected a mapping of {tp.__name__} settings)")
        return from_mapping(tp, value, field)
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"{field}: {value!r} (expected {_type_name(tp)})")


def from_mapping(cls: type, mapping: dict[str, Any], where: str = "config") -> Any:
    """Build dataclass `cls` from a mapping, checking names and types; errors name `where.field`."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    kwargs = {}
    for key, value in mapping.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=3)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else f"; known keys: {', '.join(names)}"
            raise ConfigError(f"{where}: unknown key {key!r}{hint}")
        kwargs[key] = _coerce(value, hints[key], f"{where}.{key}" if where != "config" else key)
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"{where}: {e}") from None
