"""From what the user names (a run folder, a checkpoint, a loaded model) to the model and the
images it is evaluated on.

A run's own data settings come from `cnnlab.train.checkpoint.run_data_config`, resolved exactly
as training resolved them, so `evaluate("runs/exp")` sees the same test split the run reported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from cnnlab.data import load_data
from cnnlab.data.bundle import DataBundle
from cnnlab.errors import CheckpointError, DataError
from cnnlab.train import load_model
from cnnlab.train.checkpoint import LoadedModel
from cnnlab.train.checkpoint import check_output_width, run_data_config

ModelSource = str | Path | LoadedModel


def as_loaded(source: ModelSource) -> LoadedModel:
    """A LoadedModel from a run folder or checkpoint file (safe loading: weights_only), whose
    output width matches its class names."""
    if isinstance(source, LoadedModel):
        check_output_width(source)  # load_model checks what it loads; a hand-made one is checked here
        return source
    return load_model(source)


def as_source_list(runs: ModelSource | Sequence[ModelSource]) -> list[ModelSource]:
    """One source or several; an empty list is an error."""
    items = [runs] if isinstance(runs, (str, Path, LoadedModel)) else list(runs)
    if not items:
        raise CheckpointError("evaluate: no run given (expected a run folder or a checkpoint file)")
    return items


def run_folder(loaded: LoadedModel) -> Path | None:
    """The folder the checkpoint lives in (the run folder for runs/NAME/best.pt)."""
    return Path(loaded.path).parent if loaded.path is not None else None


def run_name(loaded: LoadedModel) -> str:
    """A short name for tables: the run folder's name, or the checkpoint file's."""
    if loaded.path is None:
        return "model"
    p = Path(loaded.path)
    return p.parent.name if p.name in ("best.pt", "last.pt") else p.name


def load_eval_data(loaded: LoadedModel, data: str | None = None, **data_options: Any) -> DataBundle:
    """The data to evaluate `loaded` on: the run's own, or `data` (a source name or folder).

    Images are loaded at the model's input size and channels; the model's own normalisation is
    applied later (evaluation never recomputes statistics on new data).
    """
    pre = loaded.preprocessing
    if data is None:
        cfg = run_data_config(loaded)
        return load_data(cfg, **data_options) if data_options else load_data(cfg)
    # normalize="none": the model's own mean/std are applied later, so statistics of the new
    # data would be computed for nothing.
    options = {"image_size": pre.input_size, "channels": pre.channels, "resize": pre.resize, "normalize": "none",
               **data_options}
    return load_data(data, **options)


def label_mapping(data_classes: Sequence[str], model_classes: Sequence[str], where: str) -> list[int]:
    """Index of each data class in the model's classes; data classes the model lacks are an error."""
    missing = [c for c in data_classes if c not in model_classes]
    if missing:
        raise DataError(f"{where}: classes {missing} are not among the model's classes {list(model_classes)}; "
                        "evaluate on data with the model's classes (or --classes to keep a subset)")
    return [list(model_classes).index(c) for c in data_classes]
