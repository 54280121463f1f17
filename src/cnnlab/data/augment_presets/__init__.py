"""Augmentation presets: each one function in a module of this package, registered by name.

    @preset("light")
    def light() -> Augment:
        \"\"\"Digit-safe: small rotations and shifts, no flips.\"\"\"
        return Augment(rotation=10, shift=0.1, zoom=0.1)

A new preset is a new module here (or a function in one): `PRESETS` imports the package's
modules when it is listed, and `resolve_augment`, the `--augment` help and config checks read it.
The function's docstring's first line is the preset's help.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from cnnlab.registries import Registry

if TYPE_CHECKING:
    from cnnlab.data.augment import Augment


@dataclass(frozen=True)
class Preset:
    """A named augmentation with a one-line help."""

    name: str
    augment: Augment
    help: str


PRESETS: Registry[Preset] = Registry(__name__, "augmentation preset")


def preset(name: str) -> Callable[[Callable[[], Augment]], Callable[[], Augment]]:
    """Register the decorated function's `Augment` as preset `name` (help: its docstring's first line)."""

    def register(fn: Callable[[], Augment]) -> Callable[[], Augment]:
        help = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        PRESETS.add(name, Preset(name, fn(), help), fn.__module__)
        return fn

    return register
