"""Evaluation, prediction, ensembles and export of trained models.

    from cnnlab.evaluate import evaluate, predict, export
    result = evaluate("runs/exp")                       # metrics, confusion matrix, galleries
    result = evaluate(["runs/a", "runs/b", "runs/c"])   # a soft-voting ensemble
    rows = predict("runs/exp", ["photos/"], top_k=3)    # a folder of files → top-k classes
    export("runs/exp", format="onnx")                   # model.onnx + model.onnx.json, parity-checked

Names are imported lazily (PEP 562) so that `cnnlab --help` and the CLI module stay light: torch,
torchmetrics and matplotlib load only when a function is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "evaluate": "cnnlab.evaluate.evaluation",
    "EvaluationResult": "cnnlab.evaluate.evaluation",
    "classification_metrics": "cnnlab.evaluate.metrics",
    "most_confused": "cnnlab.evaluate.metrics",
    "combine_probabilities": "cnnlab.evaluate.ensemble",
    "check_compatible": "cnnlab.evaluate.ensemble",
    "predict": "cnnlab.evaluate.predict",
    "PredictionRow": "cnnlab.evaluate.predict",
    "expand_paths": "cnnlab.evaluate.predict",
    "load_predictor": "cnnlab.evaluate.predict",
    "export": "cnnlab.evaluate.export",
    "ExportResult": "cnnlab.evaluate.export",
    "OnnxModel": "cnnlab.evaluate.onnx_model",
    "load_onnx": "cnnlab.evaluate.onnx_model",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cnnlab.evaluate' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
