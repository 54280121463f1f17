"""`evaluate`: score one model or an ensemble on a split and write the evidence to a folder.

    out/metrics.json                        every number below, plus the run and data names
    out/confusion_matrix.png                counts and row-normalised shares, class names on the axes
    out/confusion_matrix.csv                counts, rows = true class
    out/confusion_matrix_normalized.csv     each row divided by its total
    out/per_class.csv                       precision, recall, F1 and support per class
    out/top_losses.png                      the highest-loss images (fastai's plot_top_losses)
    out/misclassified.png                   wrongly classified images, highest loss first
    out/predictions.csv                     one row per image: true, predicted, loss, probabilities
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from cnnlab.atomic import atomic_write_bytes, atomic_write_text
from cnnlab.data.loaders import Split
from cnnlab.data.transforms import Preprocessing
from cnnlab.errors import ConfigError
from cnnlab.evaluate.ensemble import check_compatible, combine_probabilities
from cnnlab.evaluate.metrics import classification_metrics, most_confused, normalize_rows, per_sample_loss
from cnnlab.evaluate.plots import confusion_matrix_png, gallery_png
from cnnlab.evaluate.sources import ModelSource, as_runs, label_mapping, load_eval_data
from cnnlab.inference import predict_batch, prepare_batch
from cnnlab.run import files as run_files
from cnnlab.run.checkpoint import LoadedModel
from cnnlab.run.folder import Run

# The files of an evaluation folder, by key (EvaluationResult.files and the report use the keys).
OUTPUT_FILES = {"confusion_csv": "confusion_matrix.csv", "confusion_normalized_csv": "confusion_matrix_normalized.csv",
                "per_class": "per_class.csv", "confusion_png": "confusion_matrix.png", "top_losses": "top_losses.png",
                "misclassified": "misclassified.png", "predictions": "predictions.csv", "metrics": run_files.METRICS}


@dataclass
class EvaluationResult:
    """The numbers and files of one evaluation (of a model or an ensemble) on one split."""

    accuracy: float
    top5: float | None
    loss: float
    per_class: list[dict[str, Any]]
    macro: dict[str, float]
    weighted: dict[str, float]
    confusion: np.ndarray
    most_confused: list[tuple[str, str, int]]
    class_names: list[str]
    members: list[dict[str, Any]]
    out_dir: Path
    files: dict[str, Path]
    probs: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    split: str = "test"
    data: str = ""
    vote: str = "soft"
    runs: list[str] = field(default_factory=list)

    @property
    def confusion_normalized(self) -> np.ndarray:
        """Each row of the confusion matrix divided by its total."""
        return normalize_rows(self.confusion)

    def to_dict(self) -> dict[str, Any]:
        """Everything but the per-image arrays, as JSON-able values (what metrics.json holds)."""
        return {"accuracy": self.accuracy, "top5": self.top5, "loss": self.loss, "images": int(len(self.labels)),
                "split": self.split, "data": self.data, "runs": self.runs, "vote": self.vote,
                "class_names": self.class_names, "per_class": self.per_class, "macro": self.macro,
                "weighted": self.weighted, "confusion": self.confusion.tolist(),
                "confusion_normalized": np.round(self.confusion_normalized, 6).tolist(),
                "most_confused": [list(t) for t in self.most_confused], "members": self.members,
                "out_dir": str(self.out_dir), "files": {k: str(v) for k, v in self.files.items()}}


def evaluate(runs: ModelSource | Sequence[ModelSource], data: str | None = None, split: str = "test",
             out: str | Path | None = None, vote: str = "soft", top_losses: int = 16, *,
             misclassified: int = 32, batch_size: int = 256, tta: bool = False,
             **data_options: Any) -> EvaluationResult:
    """Evaluate a run (a `Run`, folder, checkpoint or LoadedModel), or an ensemble of several, on a split.

    data: a data source (name or folder); default: the (first) run's own data settings.
    split: "test", "val" or "train". vote: "soft" (average probabilities) or "majority".
    out: folder for the files; default runs/NAME/evaluation (ensembles: their own folder beside
    the first run, runs/ensemble-A+B+C/). top_losses / misclassified: images in each gallery.
    data_options: `DataConfig` fields (limit, classes, data_root, ...) applied to the data.
    """
    if top_losses < 0 or misclassified < 0:
        raise ConfigError(f"top_losses / misclassified: {top_losses} / {misclassified} (expected ≥ 0)")
    opened = as_runs(runs)
    models = [r.model() for r in opened]
    names = _unique([r.name for r in opened])
    if len(models) > 1:
        check_compatible(models, names)
    bundle = load_eval_data(opened[0], data, **data_options)
    images = bundle.split(split)
    mapping = torch.tensor(label_mapping(bundle.class_names, models[0].class_names, f"{bundle.name} ({split})"))
    labels = mapping[images.labels].numpy()
    class_names = list(models[0].class_names)

    member_probs = [predict_split(m, images, bundle.preprocessing, batch_size, tta) for m in models]
    probs, predictions = combine_probabilities(member_probs, vote)
    m = classification_metrics(probs, labels, class_names, predictions)
    members = []
    if len(models) > 1:
        for name, model, p in zip(names, models, member_probs):
            mm = classification_metrics(p, labels, class_names)
            members.append({"name": name, "path": str(model.path), "accuracy": mm["accuracy"], "loss": mm["loss"]})

    if tta:
        warn_if_flips_were_refused(opened, names)
    out_dir = Path(out) if out is not None else _default_out(opened, names, tta)
    result = EvaluationResult(
        accuracy=m["accuracy"], top5=m["top5"], loss=m["loss"], per_class=m["per_class"], macro=m["macro"],
        weighted=m["weighted"], confusion=m["confusion"], most_confused=most_confused(m["confusion"], class_names),
        class_names=class_names, members=members, out_dir=out_dir, files={}, probs=probs, labels=labels,
        predictions=predictions, split=split, data=bundle.name, vote=vote if len(models) > 1 else "single",
        runs=[str(mod.path) for mod in models])
    _write_outputs(result, images, bundle.preprocessing, top_losses, misclassified)
    return result


def predict_split(loaded: LoadedModel, images: Split, data_pre: Preprocessing, batch_size: int = 256,
                  tta: bool = False) -> np.ndarray:
    """Probabilities of every image of a split, prepared by the model's own preprocessing
    (through `cnnlab.inference`, as predict and the web app prepare theirs)."""
    out = []
    for start in range(0, len(images), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(images)))
        uint8 = images.uint8_images(idx, data_pre)
        out.append(predict_batch(loaded, prepare_batch(loaded, list(uint8)), tta))
    n_classes = 2 if loaded.binary_output else len(loaded.class_names)
    return torch.cat(out).numpy() if out else np.zeros((0, n_classes), dtype=np.float32)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}#{seen[n]}")
    return out


def _default_out(runs: list[Run], names: list[str], tta: bool = False) -> Path:
    """runs/NAME/evaluation/ (evaluation-tta/ with TTA, so neither overwrites the other); an ensemble's own folder."""
    first = runs[0]
    if first.folder is None:
        raise ConfigError("evaluate: the model has no run folder; pass out=... for the evaluation files")
    if len(runs) > 1:
        return run_files.ensemble_dir([first.folder], names, tta)
    return first.output_path(run_files.EVALUATION_TTA if tta else run_files.EVALUATION)


def flips_refused(run: Run) -> str | None:
    """Why a horizontal flip does not suit this model's data, or None: its classes are digits (a
    mirrored 2 or 7 is no digit), or its training refused flips on purpose (the digit-safe `light`
    preset, or `hflip: 0` over a preset that flips, as recipes/mnist-tutorial.yaml does)."""
    loaded = run.model()
    if len(loaded.class_names) >= 2 and set(map(str, loaded.class_names)) <= {str(d) for d in range(10)}:
        return "its classes are digits"
    augment = ((loaded.checkpoint or {}).get("config") or {}).get("augment")
    if augment == "light" or (isinstance(augment, dict) and (augment.get("preset") == "light"
                                                             or augment.get("hflip") in (0, 0.0))):
        return f"it trained with augment {augment!r}, which leaves flips out"
    return None


def warn_if_flips_were_refused(runs: list[Run], names: list[str]) -> None:
    """Flip TTA on a model trained without flips: warn (a mirrored 2 or 7 is no digit; on the digits it
    cost 0.9375 → 0.9261 accuracy and doubled the loss)."""
    for run, name in zip(runs, names):
        reason = flips_refused(run)
        if reason:
            warnings.warn(f"--tta averages each image with its horizontal mirror, but for {name} {reason}: the "
                          "mirrored images are not its classes, so TTA lowers accuracy (on the digits 0.9375 → "
                          "0.9261); evaluate without --tta", UserWarning, stacklevel=3)


def output_files(out_dir: str | Path) -> dict[str, Path]:
    """The paths of an evaluation's files in `out_dir` (runs/NAME/evaluation/ by default), by key."""
    return {key: Path(out_dir) / name for key, name in OUTPUT_FILES.items()}


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _write_outputs(r: EvaluationResult, images: Split, data_pre: Preprocessing, n_top: int, n_wrong: int) -> None:
    names = r.class_names
    paths = output_files(r.out_dir)
    files: dict[str, Path] = {}
    files["confusion_csv"] = atomic_write_text(
        paths["confusion_csv"], _csv_text(["true \\ predicted", *names],
                                          [[c, *row] for c, row in zip(names, r.confusion.tolist())]))
    norm = r.confusion_normalized
    files["confusion_normalized_csv"] = atomic_write_text(
        paths["confusion_normalized_csv"],
        _csv_text(["true \\ predicted", *names], [[c, *(f"{v:.6f}" for v in row)] for c, row in zip(names, norm)]))
    files["per_class"] = atomic_write_text(
        paths["per_class"], _csv_text(["class", "precision", "recall", "f1", "support"],
                                      [[d["class"], f"{d['precision']:.6f}", f"{d['recall']:.6f}",
                                        f"{d['f1']:.6f}", d["support"]] for d in r.per_class]))
    files["confusion_png"] = atomic_write_bytes(paths["confusion_png"],
                                                confusion_matrix_png(r.confusion, norm, names))

    losses = per_sample_loss(r.probs, r.labels)
    pred_prob = r.probs[np.arange(len(r.labels)), r.predictions]
    by_loss = np.argsort(-losses, kind="stable")
    wrong = by_loss[r.predictions[by_loss] != r.labels[by_loss]]
    files["top_losses"] = _gallery(paths["top_losses"], by_loss[:n_top], r, images, data_pre, losses, pred_prob,
                                   f"top {min(n_top, len(by_loss))} losses: predicted / true, loss, p(predicted)")
    files["misclassified"] = _gallery(paths["misclassified"], wrong[:n_wrong], r, images, data_pre, losses,
                                      pred_prob, f"misclassified: {len(wrong)} of {len(r.labels)} "
                                                 f"(showing {min(n_wrong, len(wrong))}, highest loss first)")
    sources = images.paths
    rows = [[i, str(sources[i]) if sources is not None else "", names[r.labels[i]], names[r.predictions[i]],
             f"{pred_prob[i]:.6f}", f"{losses[i]:.6f}", int(r.labels[i] == r.predictions[i]),
             *(f"{v:.6f}" for v in r.probs[i])] for i in range(len(r.labels))]
    files["predictions"] = atomic_write_text(
        paths["predictions"], _csv_text(["index", "path", "true", "predicted", "probability", "loss", "correct",
                                         *(f"p:{c}" for c in names)], rows))
    files["metrics"] = paths["metrics"]
    r.files = files
    atomic_write_text(files["metrics"], json.dumps(r.to_dict(), indent=2) + "\n")


def _gallery(path: Path, idx: np.ndarray, r: EvaluationResult, images: Split, data_pre: Preprocessing,
             losses: np.ndarray, pred_prob: np.ndarray, title: str) -> Path:
    names = r.class_names
    pics = images.uint8_images(torch.from_numpy(np.asarray(idx, dtype=np.int64)), data_pre).numpy() if len(idx) \
        else np.zeros((0, data_pre.channels, *data_pre.input_size), np.uint8)
    captions = [f"{names[r.predictions[i]]} / {names[r.labels[i]]}\nloss {losses[i]:.2f}, p {pred_prob[i]:.2f}"
                for i in idx]
    wrong = [bool(r.predictions[i] != r.labels[i]) for i in idx]
    return atomic_write_bytes(path, gallery_png(pics, captions, title, wrong=wrong))
