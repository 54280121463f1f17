"""From what the user names (a run folder, a checkpoint, a loaded model, a `Run`) to the runs to
evaluate and the images to evaluate them on.

A run's own data comes from `Run.data()`: the settings training resolved and saved, so
`evaluate("runs/exp")` sees the same test split the run reported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from cnnlab.data import load_data
from cnnlab.data.bundle import DataBundle
from cnnlab.errors import CheckpointError, DataError
from cnnlab.run.checkpoint import LoadedModel
from cnnlab.run.folder import Run

ModelSource = str | Path | LoadedModel | Run


def as_runs(runs: ModelSource | Sequence[ModelSource]) -> list[Run]:
    """One source or several, each opened as a `Run`; an empty list is an error."""
    items = [runs] if isinstance(runs, (str, Path, LoadedModel, Run)) else list(runs)
    if not items:
        raise CheckpointError("evaluate: no run given (expected a run folder or a checkpoint file)")
    return [Run.open(s) for s in items]


def load_eval_data(run: Run, data: str | None = None, **data_options: Any) -> DataBundle:
    """The data to evaluate `run` on: the run's own, or `data` (a source name or folder).

    Images are loaded at the model's input size and channels; the model's own normalisation is
    applied later (evaluation never recomputes statistics on new data).
    """
    if data is None:
        return run.data(**data_options)
    pre = run.model().preprocessing
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
