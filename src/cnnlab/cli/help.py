"""`--help` completed when it is shown, from the code that owns each default and each list.

A verb's options default to None and the API function's own default applies; `--help` reads
that default from the function's signature. Lists that come from a registry (augmentation
presets, explain methods, benchmarks) are read when the help is shown. Both need imports that
would slow every `cnnlab` call (torch), so they happen here, only for `cnnlab VERB --help`.

    @app.command(cls=help_from("cnnlab.evaluate:evaluate"))
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any, Callable

from typer.core import TyperCommand, TyperOption


def load(target: str) -> Callable:
    """The function named "package.module:function"."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def api_default(function: Callable, name: str) -> Any:
    """The default of one parameter of an API function (for a verb that prints it)."""
    return inspect.signature(function).parameters[name].default


def format_default(value: Any) -> str:
    """A default as `--help` shows it: 1e-07, 10, runs/lr_find.png, 1000,500,500."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, Path):
        return str(value)
    return str(value)


def api_defaults(targets: list[tuple[str, str]]) -> dict[str, str]:
    """The defaults of the functions' parameters, as shown text; several functions label theirs
    when they differ ([("", preview_batch), ("--augmented", preview_augmented)] → "32; --augmented: 8")."""
    found: dict[str, list[tuple[str, Any]]] = {}
    for label, target in targets:
        for p in inspect.signature(load(target)).parameters.values():
            if p.default is not inspect.Parameter.empty and p.default is not None:
                found.setdefault(p.name, []).append((label, p.default))
    shown = {}
    for name, values in found.items():
        if len({format_default(v) for _, v in values}) == 1:
            shown[name] = format_default(values[0][1])
        else:
            shown[name] = "; ".join(f"{label}: {format_default(v)}" if label else format_default(v)
                                    for label, v in values)
    return shown


def help_from(*apis: str, labels: tuple[str, ...] = (), options: Callable[[], dict[str, str]] | None = None,
              epilog: Callable[[], str] | None = None) -> type[TyperCommand]:
    """A command class whose `--help` shows, for each option left at None, the default of the
    API function(s) `apis` ("module:function") with the same parameter name, or of
    `options()`; and `epilog()` (e.g. a registry's list) below the options.

    `labels` name the functions when their defaults differ (see `api_defaults`).
    """

    class CompletedHelp(TyperCommand):
        api_functions = apis  # read by the tests: no option states a default of these functions

        def format_help(self, ctx, formatter) -> None:
            shown = getattr(self.callback, "real_defaults", {}).copy()  # from `takes_settings`
            shown.update(api_defaults(list(zip(labels, apis)) if labels else [("", a) for a in apis]))
            shown.update(options() if options else {})
            for param in self.params:
                if isinstance(param, TyperOption) and param.default is None and param.name in shown:
                    show_real_default(param, shown[param.name])
            if epilog:
                self.epilog = epilog()
            super().format_help(ctx, formatter)

    return CompletedHelp


def show_real_default(param: TyperOption, text: str) -> None:
    """Show `text` as the option's default in `--help`, as typer shows a real default
    ("[default: 10]"); the option itself stays None (not given), so the API's default applies."""
    param.show_default = text
    param._get_default_string = lambda **_: text  # typer puts a text default in parentheses, as a description


def listing(title: str, rows: list[tuple[str, str]]) -> str:
    """A titled list for an epilog, one row per paragraph (typer joins single line breaks)."""
    return "\n\n".join([f"[bold]{title}[/bold]", *(f"  {name}: {text}" for name, text in rows)])


def augment_presets() -> str:
    """The registered augmentation presets with their help."""
    from cnnlab.data.augment_presets import PRESETS

    return listing("Augmentation presets (--augment):", [(p.name, p.help) for p in PRESETS.values()])
