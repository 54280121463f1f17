"""The explain methods: each one function in a module of this package, registered by name.

    @method("saliency", PER_IMAGE, "Gradient of the class score with respect to each pixel")
    def saliency(ctx: ExplainContext) -> Explanation:
        ...

A method takes an `ExplainContext` and its own options as keyword arguments with defaults
(`*, patch: int | None = None`), which `explain(..., patch=8)` passes on and `--help` shows.
Its kind says what it needs: PER_IMAGE (one image; the context holds it and the class to
explain), WHOLE_MODEL (the weights only), WHOLE_SPLIT (a data split; `ctx.split(name)`).

A new method is a new module here (or a function in one): `METHODS` imports the package's
modules when it is listed, and `explain()`, `cnnlab explain --help` and the web app read it.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from cnnlab.registries import Registry

if TYPE_CHECKING:
    from cnnlab.explain.result import Explanation

PER_IMAGE = "per-image"
WHOLE_MODEL = "whole-model"
WHOLE_SPLIT = "whole-split"
KINDS = (PER_IMAGE, WHOLE_MODEL, WHOLE_SPLIT)


@dataclass(frozen=True)
class Method:
    """A registered explain method: its name, kind, one-line help and function."""

    name: str
    kind: str
    help: str
    run: Callable[..., Explanation]

    @property
    def options(self) -> dict[str, Any]:
        """The method's own options with their defaults (its keyword-only parameters)."""
        return {p.name: p.default for p in inspect.signature(self.run).parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY}


REGISTRY: Registry[Method] = Registry(__name__, "explain method")


def method(name: str, kind: str, help: str) -> Callable[[Callable[..., Explanation]], Callable[..., Explanation]]:
    """Register the decorated function as explain method `name` of `kind` (PER_IMAGE, ...)."""
    if kind not in KINDS:
        raise ValueError(f"explain method {name!r}: kind {kind!r} (expected one of {', '.join(KINDS)})")

    def register(fn: Callable[..., Explanation]) -> Callable[..., Explanation]:
        REGISTRY.add(name, Method(name, kind, help, fn), fn.__module__)
        return fn

    return register


def methods() -> list[Method]:
    """Every registered method: per-image ones first, then whole-model, then whole-split."""
    return sorted(REGISTRY.values(), key=lambda m: KINDS.index(m.kind))


class MethodNames(Sequence[str]):
    """The names of the registered methods, in `methods()` order; read anew on every use, so a
    method module added later is listed too."""

    def _names(self) -> list[str]:
        return [m.name for m in methods()]

    def __getitem__(self, i):  # type: ignore[override]
        return self._names()[i]

    def __len__(self) -> int:
        return len(self._names())

    def __contains__(self, name: object) -> bool:
        return name in REGISTRY

    def __iter__(self):
        return iter(self._names())

    def __repr__(self) -> str:
        return repr(self._names())
