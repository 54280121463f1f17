"""`predict`: top-k classes for image files and folders, from a run, a checkpoint or an ONNX export.

Every file is prepared by the model's own preprocessing (stored in the checkpoint or the export
sidecar), so the user never repeats the normalisation or the input size. A file that cannot be
read becomes an error row naming it; the other files are still predicted. Files stream through
DataLoader workers a batch at a time (`cnnlab.evaluate.file_batches`): memory is bounded by the
batch, not by the folder.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from cnnlab.data.images import is_image_file
from cnnlab.errors import ConfigError
from cnnlab.evaluate.file_batches import file_batches
from cnnlab.evaluate.onnx_model import ExportedModel, is_torchscript_file, load_onnx, load_torchscript
from cnnlab.evaluate.sources import ModelSource
from cnnlab.inference import predict_batch, top_k as top_k_classes
from cnnlab.run.checkpoint import LoadedModel
from cnnlab.run.folder import Run

Predictor = LoadedModel | ExportedModel


@dataclass
class PredictionRow:
    """One input file: its top-k (class, probability) pairs, or the error that stopped it."""

    path: str
    top: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "top": [{"class": c, "probability": p} for c, p in self.top],
                "error": self.error}


def load_predictor(source: ModelSource | ExportedModel) -> Predictor:
    """A run folder or checkpoint (PyTorch), an exported `.onnx` file (ONNX Runtime) or
    TorchScript file (`model.torchscript.pt`, torch.jit), or any of them loaded."""
    if isinstance(source, ExportedModel):
        return source
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        source = exported_model_in(Path(source)) or source
    if isinstance(source, (str, Path)) and Path(source).suffix.lower() == ".onnx":
        return load_onnx(source)
    if isinstance(source, (str, Path)) and is_torchscript_file(Path(source)):
        return load_torchscript(source)
    return Run.open(source).model()


def exported_model_in(folder: Path) -> Path | None:
    """The exported model a folder holds when it has no checkpoint: `runs/exp/export/` itself, or a
    run folder reduced to its export/ (ONNX first, then TorchScript); None when it has a checkpoint."""
    from cnnlab.evaluate.model_export import FORMATS
    from cnnlab.run import files

    if any((folder / name).is_file() for name in files.CHECKPOINTS):
        return None
    for where in (folder, folder / files.EXPORT):
        for name in FORMATS.values():
            if (where / name).is_file():
                return where / name
    return None


def expand_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Files as given (whatever their extension, so a bad one is reported), and the image files
    of folders, recursively and sorted. A path that does not exist is kept, to be reported."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and is_image_file(f)))
        else:
            out.append(p)
    return out


def predict(source: ModelSource | ExportedModel, paths: Sequence[str | Path], top_k: int = 5, tta: bool = False,
            batch_size: int = 64, workers: int | None = None) -> list[PredictionRow]:
    """Top-k classes with probabilities for each image file (folders are expanded).

    One row per file, in order; an unreadable file gets `error` set instead of `top`. Files
    stream through `workers` DataLoader processes (None: up to 4 when there are many files),
    one batch at a time, so memory stays bounded by `batch_size` for a folder of any size.
    """
    if top_k < 1:
        raise ConfigError(f"top_k: {top_k} (expected ≥ 1)")
    if batch_size < 1:
        raise ConfigError(f"batch_size: {batch_size} (expected ≥ 1)")
    if workers is not None and workers < 0:
        raise ConfigError(f"workers: {workers} (expected ≥ 0)")
    predictor = load_predictor(source)
    files = expand_paths(paths)
    if not files:
        raise ConfigError(f"predict: no image files in {[str(p) for p in paths]} "
                          "(expected image files or folders holding .jpg/.png/... files)")
    rows = [PredictionRow(str(f)) for f in files]
    for batch in file_batches(files, predictor.preprocessing, batch_size, workers):
        for i, error in batch.errors:
            rows[i].error = error
        if batch.images is None:
            continue
        probs = (predictor.predict_batch(batch.images, tta) if isinstance(predictor, ExportedModel)
                 else predict_batch(predictor, batch.images, tta)).numpy()
        for i, top in zip(batch.positions, top_k_classes(probs, predictor.class_names, top_k)):
            rows[i].top = top
    return rows


def rows_to_csv(rows: Sequence[PredictionRow], k: int) -> str:
    """One line per file: path, class_1, probability_1, ..., class_k, probability_k, error."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", *[f"{name}_{j}" for j in range(1, k + 1) for name in ("class", "probability")], "error"])
    for r in rows:
        cells: list[Any] = []
        for j in range(k):
            cells += [r.top[j][0], f"{r.top[j][1]:.6f}"] if j < len(r.top) else ["", ""]
        w.writerow([r.path, *cells, r.error or ""])
    return buf.getvalue()


def rows_to_json(rows: Sequence[PredictionRow]) -> str:
    """A JSON list of {path, top: [{class, probability}], error}."""
    return json.dumps([r.to_dict() for r in rows], indent=2)
