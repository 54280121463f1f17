"""Command-line options made from the declared settings (`cnnlab.settings`), so the options,
their help and the defaults `--help` shows cannot drift from the settings themselves.

    @app.command()
    @takes_settings(["data", "data_root", "image_size"])
    def stats(as_json: bool = ..., *, settings: dict) -> None:
        ...                                   # settings: the options given, by setting name

Every option defaults to None (not given), so a config file's value is not overridden by the
command line's silence; `--help` shows the setting's real default. Values stay as typed (click
parses numbers; the rest is text the setting's own parser reads, e.g. "150x150", "512,256").
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from cnnlab.config_io import Declared, declared_settings, unknown_key
from cnnlab.errors import ConfigError
from cnnlab.settings import DataConfig, all_settings


def option_type(d: Declared) -> type:
    """The click type of a setting's option: bool, int, float, or text for everything else
    (lists, sizes, unions), which the setting's parser reads."""
    return simple_type(d.type) or str


def simple_type(tp: Any) -> type | None:
    """bool, int, float or str when `tp` is one of them (or it or None), else None."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[0] if len(args) == 1 else None
    return tp if tp in (bool, int, float, str) else None


def shown_default(d: Declared) -> str | None:
    """The default `--help` shows: the real one, or what None means for this setting."""
    value = d.default
    if value is None:
        return d.setting.shown_default
    if isinstance(value, bool):
        flag = d.flag.replace("_", "-")
        return flag if value else f"no-{flag}"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) if value else "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def option_help(d: Declared) -> str:
    """The setting's help, with its choices when the help does not name them."""
    help = d.setting.help
    choices = d.setting.choices
    if choices and not all(str(c) in help for c in choices):
        help += ": " + ", ".join(str(c) for c in choices)
    return help


def setting_parameter(d: Declared, name: str | None = None, help: str | None = None,
                      default_text: str | None = None) -> inspect.Parameter:
    """The typer parameter of one setting: `--flag` (or `--flag/--no-flag`), its help, panel and
    shown default. `name` renames the option (the data verbs' `--seed` is the split seed)."""
    name = name or d.flag
    flag = "--" + name.replace("_", "-")
    kind = option_type(d)
    decls = [f"{flag}/--no-{flag[2:]}" if kind is bool else flag]
    if d.setting.short:
        decls.append(d.setting.short)
    shown = default_text if default_text is not None else shown_default(d)
    option = typer.Option(None, *decls, help=help or option_help(d), show_default=shown or False,
                          rich_help_panel=d.setting.group)
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=Optional[kind])


def takes_settings(names: list[str] | None = None, *, rename: dict[str, str] | None = None,
                   helps: dict[str, str] | None = None, defaults: dict[str, str] | None = None,
                   with_set: bool = False) -> Callable[[Callable], Callable]:
    """Give a command one option per setting in `names` (default: every setting that has an
    option of its own) and `--set key=value` for any setting when `with_set`.

    The command receives the given ones as `settings` (a dict by setting name, unset ones left
    out). rename: {setting: option name}; helps: {setting: help} for a verb whose meaning
    differs; defaults: {setting: shown default} (e.g. "the run's own").
    """
    rename, helps, defaults = rename or {}, helps or {}, defaults or {}
    declared = all_settings()
    chosen = [declared[n] for n in names] if names is not None else [d for d in declared.values() if d.setting.option]

    def decorate(command: Callable) -> Callable:
        own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "settings"]
        generated = [setting_parameter(d, rename.get(d.flag), helps.get(d.flag), defaults.get(d.flag))
                     for d in chosen]
        if with_set:
            generated.append(inspect.Parameter(
                "set_", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[list[str]],
                default=typer.Option(None, "--set", help="Any setting as key=value (repeatable), e.g. "
                                     "--set restore_best=false --set data.resize=crop; values are read as YAML",
                                     rich_help_panel="Any setting")))
        option_to_setting = {rename.get(d.flag, d.flag): d.flag for d in chosen}

        @functools.wraps(command)
        def run(**kwargs: Any) -> Any:
            settings = {}
            for item in kwargs.pop("set_", None) or []:
                key, value = parse_set(item)
                settings[key] = value
            for option, flag in option_to_setting.items():
                value = kwargs.pop(option)
                if value is not None:
                    settings[flag] = str(value) if isinstance(value, Path) else value
            return command(**kwargs, settings=settings)

        parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + generated
        run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        # the real defaults among the shown ones (the others say what None means), for `help_from`
        run.real_defaults = {rename.get(d.flag, d.flag): shown_default(d) for d in chosen  # type: ignore[attr-defined]
                             if d.default is not None and d.flag not in defaults}
        run.__annotations__ = {p.name: p.annotation for p in parameters}
        del run.__wrapped__  # typer reads the signature above, not the command's own
        return run

    return decorate


def parse_set(item: str) -> tuple[str, Any]:
    """`--set key=value`: the setting's flat name and its value read as YAML (text settings
    keep the text as written). `data.field` names a data setting by its field name."""
    import yaml

    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set: {item!r} (expected key=value, e.g. restore_best=false)")
    key = key.strip().replace("-", "_")
    declared = all_settings()
    flag = {f"data.{d.name}": d.flag for d in declared_settings(DataConfig)}.get(key, key)
    if flag not in declared:
        raise unknown_key(key, sorted(declared), "--set")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    if simple_type(declared[flag].type) is str and value is not None and not isinstance(value, str):
        value = text  # a text setting keeps "123" or "true" as written
    return flag, value

