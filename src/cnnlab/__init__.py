"""cnnlab: convolutional image classifiers end to end.

The stage entry points, each importable from here:

    from cnnlab import load_data, build_model, summary, fit, evaluate, predict, export, explain
    from cnnlab import build_report, create_app, load_model, load_pretrained, Run

    data = load_data("digits")                      # data: sources, splits, preprocessing
    print(summary("keras-mnist", "1x28x28"))        # models: build_model(name), the layer table
    result = fit(data="digits", model="mnist-tiny")  # train: writes runs/<name>/
    evaluate(result.run_dir)                        # evaluate, predict, export (ONNX)
    explain(result.run_dir, "digit.png", method="gradcam")
    build_report(result.run_dir)                    # report.html; create_app(...) serves it
    Run.open(result.run_dir).model()                # the run folder as one object (cnnlab.run)

Everything else is importable from its stage package or module (`cnnlab.models.output_size`,
`cnnlab.explain.target_layers`, ...). Names load on first use (PEP 562), so `import cnnlab` and
`cnnlab --help` stay fast: torch is imported by the first entry point called, not here.
`cnnlab.evaluate` and `cnnlab.explain` are also the stage packages of those names; calling one
calls its entry point, so `from cnnlab import evaluate` works in any import order.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

__version__ = "0.1.0"

# entry point → the stage package that exports it
_ENTRY_POINTS = {
    "load_data": "cnnlab.data",
    "build_model": "cnnlab.models",
    "summary": "cnnlab.models",
    "load_pretrained": "cnnlab.models",
    "fit": "cnnlab.train",
    "load_model": "cnnlab.train",
    "evaluate": "cnnlab.evaluate",
    "predict": "cnnlab.evaluate",
    "export": "cnnlab.evaluate",
    "explain": "cnnlab.explain",
    "build_report": "cnnlab.report",
    "create_app": "cnnlab.serve",
}

if importlib.util.find_spec("cnnlab.run") is not None:  # the run folder as one object (issue 17)
    _ENTRY_POINTS["Run"] = "cnnlab.run"

__all__ = list(_ENTRY_POINTS)


def __getattr__(name: str) -> Any:
    if name not in _ENTRY_POINTS:
        raise AttributeError(f"module 'cnnlab' has no attribute {name!r}")
    package = importlib.import_module(_ENTRY_POINTS[name])
    # `cnnlab.evaluate` / `cnnlab.explain`: the package is the entry point (it is callable), as
    # Python binds the subpackage to this name anyway once anything imports it
    value = package if package.__name__ == f"{__name__}.{name}" else getattr(package, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
