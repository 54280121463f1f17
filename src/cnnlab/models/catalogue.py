"""The preset catalogue, read from the declarations without importing them: `cnnlab models` without torch.

Presets are declared once, by `@register(...)` and `@register_family(...)` next to their
builders (`cnnlab.models.registry`). The modules that hold them import torch, which costs
1.2–2.8 s on the 2-core machine (`python -X importtime`) while listing the presets needs none of
it. So `cnnlab models` reads the same decorator calls from those modules' source with `ast`:
only literal arguments count (the decorators take literals), and nothing is executed.
`tests/models/test_catalogue.py` checks that the catalogue equals what the imported registry holds.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

from cnnlab.models.info import ModelInfo
from cnnlab.shapes import as_hw

# The modules whose import registers presets and families (the registry imports the same list).
PRESET_MODULES = (
    "cnnlab.models.tutorial",
    "cnnlab.models.classic",
    "cnnlab.models.external",
    "cnnlab.models.pattern",
    "cnnlab.models.transfer",
)


def _source_path(module: str) -> Path:
    spec = importlib.util.find_spec(module)  # finds the file; runs only the (torch-free) parent package
    if spec is None or spec.origin is None:
        raise ImportError(f"{module}: no source file")
    return Path(spec.origin)


def _decorator_calls(module: str, decorator: str) -> list[ast.Call]:
    tree = ast.parse(_source_path(module).read_text(encoding="utf-8"))
    calls = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            for dec in node.decorator_list:
                if isinstance(dec, ast.Call) and isinstance(dec.func, ast.Name) and dec.func.id == decorator:
                    calls.append(dec)
    return calls


def _literal_arguments(call: ast.Call) -> tuple[list, dict]:
    args = [ast.literal_eval(a) for a in call.args]
    kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg is not None}
    return args, kwargs


def preset_infos() -> list[ModelInfo]:
    """Every `@register`ed preset, in registration order, as the registry's `model_info` gives it."""
    infos = []
    for module in PRESET_MODULES:
        for call in _decorator_calls(module, "register"):
            (name,), kw = _literal_arguments(call)
            infos.append(ModelInfo(name, kw["description"], as_hw(kw["input_size"]), kw["in_channels"],
                                   kw["num_classes"], kw["source"], kw.get("flexible_input", False)))
    return infos


def families() -> dict[str, str]:
    """The prefixed names and what each builds, as `registry.model_families()` gives them."""
    result = {}
    for module in PRESET_MODULES:
        for call in _decorator_calls(module, "register_family"):
            (prefix,), kw = _literal_arguments(call)
            result[f"{prefix}:{kw.get('placeholder', '<name>')}"] = kw["description"]
    return result


def list_presets(filter: str | None = None) -> list[ModelInfo]:
    """The presets whose name or description contains `filter` (all of them without one)."""
    infos = preset_infos()
    if filter:
        needle = filter.lower()
        infos = [i for i in infos if needle in i.name.lower() or needle in i.description.lower()]
    return infos
