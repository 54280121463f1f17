"""A stage package that is also its entry point: `cnnlab.evaluate(...)` is
`cnnlab.evaluate.evaluate(...)`, and `cnnlab.explain(...)` is `cnnlab.explain.explain(...)`.

`cnnlab` exports the functions `evaluate` and `explain`, but Python binds a subpackage to the
attribute of its parent's namespace of the same name as soon as anything imports it, so
`from cnnlab import evaluate` gives the package `cnnlab.evaluate` in many import orders. Making
those two packages callable keeps the entry point working in every order, while the package
stays an ordinary package for imports, attribute access and monkeypatching.
"""

from __future__ import annotations

import inspect
import sys
import types
from typing import Any


class CallablePackage(types.ModuleType):
    """A package whose call runs its function of the same name (loaded on first use)."""

    def _entry_point(self) -> Any:
        return getattr(self, self.__name__.rpartition(".")[2])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._entry_point()(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:  # inspect.signature(cnnlab.evaluate) and help
        return inspect.signature(self._entry_point())


def make_callable(package_name: str) -> None:
    """Turn the (already imported) package `package_name` into a CallablePackage."""
    sys.modules[package_name].__class__ = CallablePackage
