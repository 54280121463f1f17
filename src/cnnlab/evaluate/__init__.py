"""Evaluation, prediction, ensembles and export of trained models.

    from cnnlab.evaluate import evaluate, predict, export
    result = evaluate("runs/exp")                       # metrics, confusion matrix, galleries
    result = evaluate(["runs/a", "runs/b", "runs/c"])   # a soft-voting ensemble
    rows = predict("runs/exp", ["photos/"], top_k=3)    # a folder of files → top-k classes
    export("runs/exp", format="onnx")                   # model.onnx + model.onnx.json, parity-checked

The rest is importable from its module: `evaluation` (EvaluationResult), `metrics`,
`ensemble`, `prediction` (PredictionRow), `model_export` (ExportResult), `onnx_model`.
Names are imported lazily (PEP 562) so that `cnnlab --help` stays light: torch, torchmetrics
and matplotlib load only when a function is used. Calling the package runs `evaluate`
(`cnnlab.callable_package`).
"""

from __future__ import annotations

from typing import Any

from cnnlab.callable_package import make_callable

__all__ = ["evaluate", "export", "predict"]


def __getattr__(name: str) -> Any:
    if name == "evaluate":
        from cnnlab.evaluate.evaluation import evaluate as value
    elif name == "predict":
        from cnnlab.evaluate.prediction import predict as value
    elif name == "export":
        from cnnlab.evaluate.model_export import export as value
    else:
        raise AttributeError(f"module 'cnnlab.evaluate' has no attribute {name!r}")
    globals()[name] = value
    return value


make_callable(__name__)
