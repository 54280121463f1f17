"""The package follows the data: no import runs back up the stage order, and no modules import
each other in a circle.

Every module of src/cnnlab is parsed with `ast` (nothing is imported), and every import counts:
at the top of a module, inside a function, in a class. Left out are imports under
`if TYPE_CHECKING:` (they never run) and those inside a package's PEP 562 `__getattr__`, which
re-exports a name lazily and runs only when the name is used. Importing `cnnlab.a.b` also runs
`cnnlab/a/__init__.py`, so the stage rule applies to the parent packages of what is imported too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "cnnlab"

# The stage order, first to last: a module may import its own stage and the stages before it.
STAGE_ORDER = ["foundation", "data", "models", "run", "inference", "train", "evaluate", "explain",
               "report/serve", "pipeline", "cli"]

# The stage of each package or module of cnnlab; the longest matching prefix wins.
STAGES = {
    # The top-level package runs before every module (it is the parent of each), so it holds
    # only `__version__` and lazy (`__getattr__`) re-exports of the public API.
    "cnnlab": "foundation",
    "cnnlab.errors": "foundation",      # the exceptions every stage raises
    "cnnlab.atomic": "foundation",      # atomic file writes
    "cnnlab.config_io": "foundation",   # YAML → typed dataclasses, declared settings
    "cnnlab.bounds": "foundation",      # nesting and alias-expansion caps on YAML, JSON, checkpoints
    "cnnlab.regular_files": "foundation",  # reads of regular files only, size-capped
    "cnnlab.settings": "foundation",    # every setting, declared once (DataConfig, TrainConfig)
    "cnnlab.registries": "foundation",  # registries filled by importing a package's modules
    "cnnlab.shapes": "foundation",      # the one input-size parser
    "cnnlab.callable_package": "foundation",  # cnnlab.evaluate(...) and cnnlab.explain(...) as calls
    "cnnlab.recipes": "foundation",     # the packaged training configs, found by name
    "cnnlab.data": "data",
    "cnnlab.models": "models",
    "cnnlab.scratch": "models",         # the NumPy engine: models of its own, with their training
    "cnnlab.run": "run",                # the run folder: checkpoints, data settings, Run
    "cnnlab.inference": "inference",    # class probabilities of a LoadedModel, shared by every verb
    "cnnlab.train": "train",
    "cnnlab.evaluate": "evaluate",
    "cnnlab.explain": "explain",
    "cnnlab.report": "report/serve",
    "cnnlab.serve": "report/serve",
    "cnnlab.pipeline": "pipeline",      # fit → evaluate → report, for `cnnlab train`
    "cnnlab.cli": "cli",
    "cnnlab.__main__": "cli",
}

# Imports that run back up the stage order on purpose, each with its reason: (importer, imported).
_SETTINGS_AUGMENT = ("TrainConfig.augmentation resolves the augment preset (data stage, with torch) only when a "
                     "config is built, so the declared settings load without torch for `cnnlab --help`")
LAZY_IMPORTS_ALLOWED: dict[tuple[str, str], str] = {
    ("cnnlab.settings", "cnnlab.data.augment"): _SETTINGS_AUGMENT,
    ("cnnlab.settings", "cnnlab.data"): _SETTINGS_AUGMENT + " (cnnlab.data is its package)",
}

def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def stage_of(module: str) -> str:
    # the root's entry is for cnnlab/__init__.py alone: every other module needs its own entry
    prefixes = [p for p in STAGES if module == p or (p != "cnnlab" and module.startswith(p + "."))]
    if not prefixes:
        raise AssertionError(f"{module}: no stage in STAGES; add its package or module to the table")
    return STAGES[max(prefixes, key=len)]


def _never_runs_at_import(node: ast.AST, parents: dict[ast.AST, ast.AST], module_level_getattr: bool) -> bool:
    """Under `if TYPE_CHECKING:`, or inside a package's module-level `__getattr__` (PEP 562)."""
    while node in parents:
        child, node = node, parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
        if (module_level_getattr and isinstance(node, ast.FunctionDef) and node.name == "__getattr__"
                and isinstance(parents.get(node), ast.Module)):
            return True
    return False


def imports_of(module: str) -> list[tuple[str, int]]:
    """The cnnlab modules `module` imports, anywhere in its file, with their line numbers."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . import x, from ..a import b
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # `from pkg import name`: the submodule pkg.name when there is one, else pkg itself
            names = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in MODULES else origin for a in node.names]
        else:
            continue
        if _never_runs_at_import(node, parents, path.name == "__init__.py"):
            continue
        found += [(n, node.lineno) for n in dict.fromkeys(names) if n == "cnnlab" or n.startswith("cnnlab.")]
    return found


def known(module: str) -> str:
    """The module itself, or the nearest package of a name that is not a module (a typo'd import
    shows up as its package)."""
    while module not in MODULES and "." in module:
        module = module.rpartition(".")[0]
    return module


def graph() -> dict[str, set[str]]:
    """Module → the modules it imports."""
    return {m: {known(i) for i, _ in imports_of(m)} - {m} for m in MODULES}


def upward_imports() -> list[str]:
    problems = []
    for module in MODULES:
        mine = STAGE_ORDER.index(stage_of(module))
        for imported, line in imports_of(module):
            target = known(imported)
            # importing cnnlab.a.b runs cnnlab/a/__init__.py first (the root package is the API)
            chain = [target] + [target.rsplit(".", k)[0] for k in range(1, target.count("."))]
            for name in chain:
                if STAGE_ORDER.index(stage_of(name)) <= mine:
                    continue
                if (module, name) in LAZY_IMPORTS_ALLOWED:
                    continue
                problems.append(f"{MODULES[module].relative_to(SRC)}:{line}: {module} ({stage_of(module)}) "
                                f"imports {name} ({stage_of(name)}), a later stage")
    return problems


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_stage():
    for module in MODULES:
        stage_of(module)


def test_no_import_runs_back_up_the_stage_order():
    problems = upward_imports()
    assert not problems, "imports that run back up the stage order:\n" + "\n".join(problems)


def test_no_import_cycles_between_modules():
    found = cycles(graph())
    assert not found, "modules that import each other in a circle:\n" + "\n".join(" ↔ ".join(c) for c in found)


def test_allow_lists_hold_only_imports_that_exist():
    """An allow-list entry whose import is gone is removed, so the list only shrinks."""
    present = {(m, known(i)) for m in MODULES for i, _ in imports_of(m)}
    present |= {(m, p) for m, t in list(present) for p in [t.rsplit(".", k)[0] for k in range(1, t.count("."))]}
    stale = [e for e in sorted(LAZY_IMPORTS_ALLOWED) if e not in present]
    assert not stale, f"allow-list entries for imports that no longer exist: {stale}"


def test_the_checker_sees_function_level_imports_and_cycles(tmp_path):
    """The walker must be able to fail: an import inside a function counts, and a loop is found."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    lazy = [(m, i) for m in MODULES for i, line in imports_of(m)
            if any(isinstance(n, ast.FunctionDef) and n.lineno < line <= n.end_lineno
                   for n in ast.walk(ast.parse(MODULES[m].read_text())))]
    assert lazy, "no import inside a function was seen"


@pytest.mark.parametrize("module", ["cnnlab.run.folder", "cnnlab.run.checkpoint", "cnnlab.run.data_settings"])
def test_the_run_stage_needs_nothing_after_it(module):
    """`Run` sits before training: it reads what training wrote without importing training."""
    later = STAGE_ORDER[STAGE_ORDER.index("run") + 1:]
    assert not [i for i, _ in imports_of(module) if stage_of(known(i)) in later]
