"""Typed settings: declared once on dataclass fields, checked the same way from every door.

A setting is a dataclass field made with `setting(default, help, ...)`: its name, type, default,
help, range or choices live there, and everything else reads them — the `cnnlab` options and
their `--help` (cnnlab.cli.settings), the checks of `check_settings`, config files read with
`from_mapping`, and the config.yaml written with `to_plain`.

`from_mapping(Cls, mapping, where)` checks every key and value against the dataclass's type
hints: an unknown key gets a "did you mean", a wrong type names the field, the value and the
expected type. YAML is read with `yaml.safe_load`, so tags that would construct Python objects
are refused.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Union

import yaml

from cnnlab.errors import ConfigError

_MISSING = dataclasses.MISSING


@dataclass(frozen=True)
class Setting:
    """How one setting is explained, given on the command line and checked.

    help: one line for `--help` (the default is shown from the field, never written here).
    flag: the setting's name outside its dataclass when it differs from the field's: the
        command-line option and the keyword of `fit(**settings)` (DataConfig.source is `data`).
    short: a one-letter option ("-e").
    option: False for rare settings, given with `--set key=value` instead of an option of
        their own.
    group: the `--help` panel the option is listed in.
    ge, gt, le, lt: the allowed range of a number; `choices`: the allowed values.
    expected: what an error message says was expected (default: made from the range/choices).
    parse: turns what a user may write (command-line text, a YAML value) into the typed value,
        for settings that plain YAML values do not cover ("150x150", "512,256"); one parser for
        every door.
    shown_default: what `--help` shows for a None default (what None means), e.g. "the
        source's own size".
    """

    help: str
    flag: str | None = None
    short: str | None = None
    option: bool = True
    group: str | None = None
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple[Any, ...] | None = None
    expected: str | None = None
    parse: Callable[[Any, str], Any] | None = None
    shown_default: str | None = None

    def expectation(self) -> str:
        """What a valid value looks like, in words (for error messages)."""
        if self.expected:
            return self.expected
        if self.choices:
            return " or ".join(str(c) for c in self.choices)
        lo = f"{_num(self.ge)} ≤ " if self.ge is not None else f"{_num(self.gt)} < " if self.gt is not None else ""
        hi = f" ≤ {_num(self.le)}" if self.le is not None else f" < {_num(self.lt)}" if self.lt is not None else ""
        if lo and hi:
            return f"{lo}value{hi}"
        if lo:
            return f"a value {'≥' if self.ge is not None else '>'} {_num(self.ge if self.ge is not None else self.gt)}"
        if hi:
            return f"a value{hi}"
        return "a valid value"

    def out_of_range(self, value: Any) -> bool:
        """True when a number lies outside [ge/gt, le/lt] or a value is not one of `choices`."""
        if self.choices is not None and value not in self.choices:
            return True
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        return ((self.ge is not None and value < self.ge) or (self.gt is not None and value <= self.gt)
                or (self.le is not None and value > self.le) or (self.lt is not None and value >= self.lt))


def _num(x: float | None) -> str:
    return f"{int(x):,}" if float(x).is_integer() and abs(x) >= 1e6 else f"{x:g}"


def setting(default: Any, help: str, **how: Any) -> Any:
    """A dataclass field that is a user setting; `how` are `Setting`'s fields (range, choices, ...).

    Mutable defaults (lists, dicts) are copied for each instance.
    """
    meta = {"setting": Setting(help, **how)}
    if isinstance(default, (list, dict, set)):
        return field(default_factory=functools.partial(type(default), default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Declared:
    """One declared setting of a dataclass: its field, type, default and `Setting`."""

    owner: type
    name: str
    type: Any
    default: Any
    setting: Setting

    @property
    def flag(self) -> str:
        """The setting's name outside its dataclass (the option and the keyword of `fit`)."""
        return self.setting.flag or self.name


@functools.cache
def declared_settings(cls: type) -> tuple[Declared, ...]:
    """The settings of a dataclass, in field order (fields made with `setting()`)."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if "setting" not in f.metadata:
            continue
        default = f.default if f.default is not _MISSING else (
            f.default_factory() if f.default_factory is not _MISSING else _MISSING)
        out.append(Declared(cls, f.name, hints[f.name], default, f.metadata["setting"]))
    return tuple(out)


def check_settings(obj: Any, where: str = "") -> None:
    """Check every declared setting of dataclass `obj` in place: parse, type, finite, range.

    Errors name `where.field`, the value and what was expected:
    "lr: -1.0 (expected a positive learning rate, e.g. 1e-3)".
    """
    for d in declared_settings(type(obj)):
        name = f"{where}.{d.name}" if where else d.name
        value = getattr(obj, d.name)
        if value is not None and d.setting.parse is not None:
            value = d.setting.parse(value, name)
        value = _coerce(value, d.type, name)
        if value is not None and d.setting.out_of_range(value):
            raise ConfigError(f"{name}: {value!r} (expected {d.setting.expectation()})")
        setattr(obj, d.name, value)


def to_plain(obj: Any) -> Any:
    """Plain YAML values of a settings dataclass: nested dataclasses as mappings, tuples as lists."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj


def unknown_key(key: str, names: list[str], where: str = "config") -> ConfigError:
    """The error for a setting that does not exist, with the closest names."""
    close = difflib.get_close_matches(str(key), names, n=3)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else f"; known keys: {', '.join(names)}"
    return ConfigError(f"{where}: unknown key {key!r}{hint}")


# --- parsers shared by the command line and config files -------------------------------------

def comma_list(item: type) -> Callable[[Any, str], Any]:
    """A parser of lists written as comma-separated text ("512,256", "cat,dog"); lists pass through
    (with `str` items made text, so class names may be written as numbers)."""
    what = "whole numbers, e.g. 512,256" if item is int else "values, e.g. cat,dog"

    def parse(value: Any, name: str) -> Any:
        if isinstance(value, str):
            try:
                return [item(p.strip()) for p in value.split(",") if p.strip()]
            except ValueError:
                raise ConfigError(f"{name}: {value!r} (expected comma-separated {what})") from None
        if item is str and isinstance(value, (list, tuple)):
            return [str(v) for v in value]
        return value

    return parse


MAX_CONFIG_BYTES = 1 << 20  # a recipe is ~1 KB; a config file of a megabyte is not a config


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML file as a mapping; refuses object-constructing tags, non-mapping documents, files
    that are not regular files or exceed 1 MB, and alias bombs or deep nesting (`cnnlab.bounds`)."""
    from cnnlab.bounds import safe_yaml_load
    from cnnlab.regular_files import FileRefused, read_regular_file

    path = Path(path)
    try:
        raw = read_regular_file(path, MAX_CONFIG_BYTES, "config file")
    except FileRefused as e:
        raise ConfigError(str(e)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}: {raw[e.start:e.start + 1]!r}); "
                          "save the config as UTF-8") from None
    data = safe_yaml_load(text, str(path))
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
        others = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        if value is not None and len(others) == 1:  # Optional[X]: X's own message ("lr: nan (expected a finite number)")
            return _coerce(value, others[0], field)
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
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            try:
                number = float(value)
            except ValueError:
                pass
        if number is None:
            raise ConfigError(f"{field}: {value!r} (expected a number)")
        if not math.isfinite(number):  # NaN slips through every range check (nan < 0 is False)
            raise ConfigError(f"{field}: {value!r} (expected a finite number)")
        return number
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
    """Build dataclass `cls` from a mapping, checking names and types; errors name `where.field`.

    Declared settings (fields made with `setting()`) are passed as written: the dataclass checks
    them itself (`check_settings` in its `__post_init__`), so every door checks them one way.
    """
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    declared = {d.name for d in declared_settings(cls)}
    kwargs = {}
    for key, value in mapping.items():
        if key not in names:
            raise unknown_key(key, names, where)
        kwargs[key] = value if key in declared else _coerce(value, hints[key], f"{where}.{key}" if where != "config" else key)
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"{where}: {e}") from None
