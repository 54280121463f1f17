"""The public API fits one README screen: `cnnlab` exports the stage entry points and nothing
else, lazily (importing cnnlab does not import torch), and each stage package exports its own
entry points; everything else is imported from its module."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# The documented entry points: cnnlab/__init__.py's docstring and the README list them.
TOP_LEVEL = {"load_data", "build_model", "summary", "fit", "evaluate", "predict", "export",
             "explain", "build_report", "create_app", "load_model", "load_pretrained"}
STAGES = {
    "cnnlab.data": {"load_data"},
    "cnnlab.models": {"build_model", "list_models", "model_info", "summary", "load_pretrained"},
    "cnnlab.train": {"fit", "load_model", "lr_find"},
    "cnnlab.evaluate": {"evaluate", "predict", "export"},
    "cnnlab.explain": {"explain", "list_layers"},
    "cnnlab.report": {"build_report"},
    "cnnlab.serve": {"create_app", "serve"},
    "cnnlab.scratch": {"im2col", "col2im", "train_digits"},
}


def run_python(code: str) -> str:
    """`code` in a fresh interpreter (so nothing is imported yet); its stdout."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "PYTHONPATH": str(REPO / "src")})
    assert done.returncode == 0, done.stderr
    return done.stdout


def expected_top_level() -> set[str]:
    try:  # `Run` joins the entry points where the run-folder object exists (issue 17, part A)
        import cnnlab.run  # noqa: F401
    except ImportError:
        return TOP_LEVEL
    return TOP_LEVEL | {"Run"}


def test_top_level_exports_exactly_the_documented_entry_points():
    import cnnlab

    assert set(cnnlab.__all__) == expected_top_level()
    assert len(cnnlab.__all__) == len(set(cnnlab.__all__))
    documented = cnnlab.__doc__ + (REPO / "README.md").read_text()
    for name in cnnlab.__all__:
        assert callable(getattr(cnnlab, name)), name
        assert re.search(rf"\b{name}\b", cnnlab.__doc__), f"{name} is not in cnnlab's docstring"
        assert f"import {name}" in documented or f", {name}" in documented, f"{name} is not documented"
    with pytest.raises(AttributeError):
        cnnlab.TrainConfig  # noqa: B018  importable from its module, not from the top


def test_import_cnnlab_does_not_import_torch():
    out = run_python("import sys, cnnlab; print(sorted(cnnlab.__all__)); "
                     "print('torch' in sys.modules, 'numpy' in sys.modules)")
    assert out.splitlines()[-1] == "False False"


def test_stage_packages_export_their_entry_points():
    import importlib

    for package, names in STAGES.items():
        module = importlib.import_module(package)
        assert set(module.__all__) == names, package
        for name in names:
            assert inspect.isfunction(getattr(module, name)), f"{package}.{name}"


@pytest.mark.parametrize("first", ["import cnnlab.evaluate, cnnlab.explain",
                                   "import cnnlab.evaluate.prediction, cnnlab.evaluate.model_export",
                                   "pass"])
def test_entry_points_work_in_any_import_order(first):
    # Python binds a subpackage (cnnlab.evaluate) or a submodule to its parent's attribute of the
    # same name once anything imports it: the entry point must survive that in every order.
    out = run_python(f"""{first}
import inspect
from cnnlab import evaluate, explain
from cnnlab.evaluate import export, predict
from cnnlab.evaluate.evaluation import evaluate as evaluate_function
from cnnlab.explain.api import explain as explain_function
assert inspect.isfunction(predict) and inspect.isfunction(export)
assert inspect.signature(evaluate) == inspect.signature(evaluate_function)
assert inspect.signature(explain) == inspect.signature(explain_function)
for call, direct in ((evaluate, evaluate_function), (explain, explain_function)):
    try:
        call("no/such/run")
    except Exception as e:
        got = (type(e), str(e))
    try:
        direct("no/such/run")
    except Exception as e:
        assert (type(e), str(e)) == got
print("ok")
""")
    assert out.strip() == "ok"
