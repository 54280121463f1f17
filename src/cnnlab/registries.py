"""A registry whose entries are found by importing every module of one package.

Augmentation presets (`cnnlab.data.augment_presets`) and explain methods
(`cnnlab.explain.methods`) are registries like this: an entry is one decorated function in a
module of the package, and adding one is adding a module (or a function to a module) — no list
to edit. Listing the registry imports the package's modules it has not imported yet
(`pkgutil.iter_modules` over the package's `__path__`), so a module added later is found too.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """Entries by name, in the order their modules register them (modules in name order).

    `registry[name]` looks a name up (importing the package's modules first when it is not
    registered yet); iterating lists every name. Modules whose names start with "_" are skipped.
    """

    def __init__(self, package: str, what: str):
        self.package = package
        self.what = what
        self._entries: dict[str, T] = {}
        self._origin: dict[str, str] = {}

    def add(self, name: str, entry: T, module: str) -> None:
        """Register `entry` as `name`; a second module registering the same name is an error."""
        if name in self._entries and self._origin[name] != module:
            raise ValueError(f"{self.what} {name!r} is registered twice: in {self._origin[name]} and {module}")
        self._entries[name] = entry
        self._origin[name] = module

    def discover(self) -> None:
        """Import every module of the package that is not imported yet."""
        package = importlib.import_module(self.package)
        for info in pkgutil.iter_modules(package.__path__):
            name = f"{self.package}.{info.name}"
            if not info.name.startswith("_") and name not in sys.modules:
                importlib.import_module(name)

    def __getitem__(self, name: str) -> T:
        if name not in self._entries:
            self.discover()
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        if name not in self._entries:
            self.discover()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        self.discover()
        return iter(list(self._entries))

    def __len__(self) -> int:
        self.discover()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what}: {', '.join(self)})"
