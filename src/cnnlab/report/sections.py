"""The content of each report section, gathered from the run folder and the model.

Each function returns plain values (text, numbers, rows, PNG data URIs) for the template, or a
`note` saying why a section is empty (no evaluation module, data not on this machine, ...).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnnlab.errors import DataError
from cnnlab.report.figures import data_uri, prediction_grid
from cnnlab.run import Run


def read_json(path: Path) -> dict[str, Any]:
    """A JSON file as a dict ({} when absent; a damaged one is refused with one line)."""
    from cnnlab.run.history import read_json_file

    return read_json_file(path) if path.exists() else {}


def read_csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV file (empty when absent)."""
    if not path.is_file():
        return [], []
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return (rows[0], rows[1:]) if rows else ([], [])


def image_uri(path: Path) -> str | None:
    return data_uri(path.read_bytes()) if path.is_file() else None


def model_section(loaded) -> dict[str, Any]:
    """Per-layer table and parameter totals; blocks frozen at the end of training count as frozen."""
    from cnnlab.models import summary
    from cnnlab.shapes import format_shape

    model = loaded.model
    frozen_blocks = {name for name, state in (loaded.checkpoint or {}).get("frozen", {}).get("blocks", {}).items()
                     if state == "frozen"}
    # A model rebuilt from a checkpoint has every parameter trainable; restore the run's final
    # freezing so the trainable/frozen split is the one the run trained with.
    saved = {p: p.requires_grad for p in model.parameters()}
    try:
        for name, child in model.named_children():
            if name in frozen_blocks:
                child.requires_grad_(False)
        pre = loaded.preprocessing
        s = summary(model, (pre.channels, *pre.input_size))
    finally:
        for p, flag in saved.items():
            p.requires_grad_(flag)
    rows = [{"name": r.name, "kind": r.kind, "output": format_shape(r.output_shape), "params": r.params,
             "trainable": r.trainable_params, "mult_adds": r.mult_adds} for r in s.rows]
    return {"name": s.model_name, "input": format_shape(s.input_shape), "rows": rows, "totals": s.totals(),
            "frozen_blocks": sorted(frozen_blocks)}


def training_section(run: Run) -> dict[str, Any]:
    """curves.png (drawn from history.csv when missing) and the per-epoch table."""
    from cnnlab.run.history import HISTORY_FIELDS, plot_curves

    history = run.history()
    png = run.curves_png()
    curves = data_uri(png) if png is not None else data_uri(plot_curves(history)) if history else None
    columns = [c for c in HISTORY_FIELDS if any(c in h for h in history)]
    return {"curves": curves, "columns": columns, "history": history}


def evaluation_section(run: Run, evaluation=None) -> dict[str, Any]:
    """The evaluation of the run on its test split: `evaluation` (an EvaluationResult) when
    given, else the one in runs/NAME/evaluation/ (run now when missing)."""
    from cnnlab.evaluate.evaluation import evaluate, output_files

    note = None
    if evaluation is None and run.folder is None:  # a model in memory: nothing saved, nowhere to save
        return {"note": "evaluation skipped: the model has no run folder", "metrics": {}, "averages": {},
                "per_class_header": [], "per_class": [], "confusion": None, "top_losses": None,
                "misclassified": None, "most_confused": []}
    files = evaluation.files if evaluation is not None else output_files(run.evaluation_dir)
    if evaluation is None and not files["metrics"].is_file():
        try:
            evaluation = evaluate(run)
            files = evaluation.files
        except DataError as e:  # the run's data is not on this machine
            note = f"evaluation skipped: {e}"
    metrics = evaluation.to_dict() if evaluation is not None else read_json(files["metrics"])
    header, per_class = read_csv_rows(files["per_class"])
    # numbers only: the split, data name and folder are context, not metrics
    scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    averages = {k: metrics[k] for k in ("macro", "weighted") if isinstance(metrics.get(k), dict)}
    return {"note": note, "metrics": scalars, "averages": averages, "per_class_header": header,
            "per_class": per_class, "confusion": image_uri(files["confusion_png"]),
            "top_losses": image_uri(files["top_losses"]), "misclassified": image_uri(files["misclassified"]),
            "most_confused": metrics.get("most_confused") or []}


def sample_test_images(data, loaded, n: int) -> tuple[np.ndarray, list[int]]:
    """The first `n` test images (uint8 N×C×H×W at the model's input size) and their labels."""
    split = data.test if data.test is not None else data.val
    index = torch.arange(min(n, len(split)))
    pre = loaded.preprocessing
    images = torch.stack([pre.prepare_uint8(im) for im in split.uint8_images(index, data.preprocessing)])
    return images.numpy(), split.labels[index].tolist()


def predictions_section(loaded, images: np.ndarray, labels: list[int]) -> dict[str, Any]:
    """A grid of test images with the model's answers (through cnnlab.inference, as everywhere)."""
    from cnnlab.inference import predict_proba

    probs = predict_proba(loaded, [torch.from_numpy(im) for im in images])
    names = loaded.class_names
    predicted = [names[i] for i in probs.argmax(1)]
    true = [names[i] for i in labels]
    grid = prediction_grid(images, true, predicted, probs.max(1).tolist())
    right = sum(t == p for t, p in zip(true, predicted))
    return {"grid": data_uri(grid), "right": right, "total": len(true)}


def explain_section(run: Run, images: np.ndarray, n_gradcam: int = 4) -> dict[str, Any]:
    """Grad-CAM overlays for a few test images and the feature maps of each conv layer for the first."""
    from cnnlab.explain import explain
    from cnnlab.explain.target_layers import default_layer

    loaded = run.model()
    arrays = [_hwc(im) for im in images]
    gradcam = []
    for array in arrays[:n_gradcam]:
        e = explain(run, array, method="gradcam")
        gradcam.append({"uri": data_uri(e.png), "title": e.title, "prediction": e.prediction})
    layers = [n for n, m in loaded.model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    last = default_layer(loaded.model)
    chosen = [layers[0], last] if layers and layers[0] != last else [last]
    featuremaps = []
    for layer in chosen:
        e = explain(run, arrays[0], method="featuremaps", layer=layer)
        featuremaps.append({"uri": data_uri(e.png), "title": e.title, "layer": layer})
    return {"note": None, "gradcam": gradcam, "featuremaps": featuremaps}


def _hwc(image: np.ndarray) -> np.ndarray:
    """uint8 C×H×W → H×W (grey) or H×W×3, the array form explain() takes."""
    arr = np.ascontiguousarray(np.transpose(image, (1, 2, 0)))
    return arr[:, :, 0] if arr.shape[2] == 1 else arr
