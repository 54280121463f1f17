"""Recipes: the training configs that ship inside the package, found by name.

    cnnlab recipes                         # one line each
    cnnlab recipes show keras-mnist        # the YAML
    cnnlab train --config keras-mnist      # a recipe by name, from any folder

Each recipe is a YAML file of this package (`keras-mnist.yaml`), installed with cnnlab as
package data, so a `pip install` has them. Its header comment says which tutorial it follows
and what that tutorial reported. `--config NAME` reads the file NAME when one exists (your own
config, or a run's config.yaml), and the recipe NAME otherwise; `recipes/NAME.yaml`, the
spelling of a checkout before the recipes moved here, finds the recipe too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cnnlab.errors import ConfigError, did_you_mean

RECIPES_DIR = Path(__file__).resolve().parent
SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Recipe:
    """One packaged recipe: its name, file, and what its header comment says."""

    name: str
    path: Path

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def about(self) -> str:
        """The header comment as one paragraph (the lines starting with # before the settings)."""
        lines = []
        for line in self.text.splitlines():
            if not line.startswith("#"):
                break
            lines.append(line.lstrip("#").strip())
        return " ".join(lines)

    def summary(self, width: int = 100) -> str:
        """The header's first sentence, cut to `width` characters: what `cnnlab recipes` prints."""
        first = re.split(r"(?<=[.;])\s", self.about, maxsplit=1)[0].rstrip(".;")
        return first if len(first) <= width else first[: width - 1].rstrip() + "…"


def recipe_names() -> list[str]:
    """The names of the packaged recipes, sorted."""
    return sorted(p.stem for p in RECIPES_DIR.iterdir() if p.suffix in SUFFIXES and p.is_file())


def get_recipe(name: str) -> Recipe:
    """The packaged recipe `name` (also spelled `recipes/NAME.yaml`); a ConfigError with the
    closest names when there is none."""
    stem = recipe_stem(name)
    for suffix in SUFFIXES:
        path = RECIPES_DIR / f"{stem}{suffix}"
        if stem and "/" not in stem and path.is_file():
            return Recipe(stem, path)
    names = recipe_names()
    raise ConfigError(f"{name}: no such config file, and no recipe of that name{did_you_mean(stem, names)}; "
                      f"recipes: {', '.join(names)} (`cnnlab recipes` lists them)")


def recipe_stem(name: str) -> str:
    """'recipes/keras-mnist.yaml' or 'keras-mnist.yaml' → 'keras-mnist'."""
    stem = str(name).strip()
    if stem.startswith("recipes/"):
        stem = stem[len("recipes/"):]
    for suffix in SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    return stem


def find_config(path_or_name: str | Path) -> Path:
    """The config file to read for `--config X`: the file X when it exists, else the recipe X."""
    path = Path(path_or_name)
    if path.exists():
        return path
    return get_recipe(str(path_or_name)).path
