"""`list_runs`: the run folders under a folder, one summary row each, for comparing experiments.

    for row in list_runs("runs", sort="test_acc"):
        print(row["name"], row["model"], row["test_acc"])

A row is read from the files training wrote (config.yaml, history.csv, metrics.json, and the
evaluation's metrics when `cnnlab evaluate` ran); a missing or garbled file leaves its columns
empty instead of failing the listing. Wall time runs from config.yaml (written when training
starts) to metrics.json (written when it ends).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from cnnlab.errors import CnnlabError, ConfigError
from cnnlab.run import files
from cnnlab.run.history import read_history

COLUMNS = ("name", "model", "data", "epochs", "best_val_acc", "best_val_loss", "test_acc", "wall_s", "status")
# Sorting by a metric puts the best first; by text, A to Z.
HIGHER_FIRST = {"best_val_acc", "test_acc", "epochs"}
LOWER_FIRST = {"best_val_loss", "wall_s"}


def is_run_folder(path: Path) -> bool:
    """A folder training wrote into (it has config.yaml, or a checkpoint)."""
    return path.is_dir() and not path.is_symlink() and any(
        (path / n).is_file() for n in (files.CONFIG, *files.CHECKPOINTS))


def list_runs(folder: str | Path = "runs", sort: str = "name") -> list[dict[str, Any]]:
    """One row per run folder directly under `folder` (columns: `COLUMNS`), sorted by `sort`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder of runs (expected the --project folder, e.g. runs/)")
    if sort not in COLUMNS:
        raise ConfigError(f"sort: {sort!r} (expected one of {', '.join(COLUMNS)})")
    rows = [run_row(p) for p in sorted(folder.iterdir()) if is_run_folder(p)]
    present = [r for r in rows if r[sort] is not None]
    absent = [r for r in rows if r[sort] is None]
    reverse = sort in HIGHER_FIRST
    present.sort(key=lambda r: (r[sort], r["name"]), reverse=reverse)
    return present + absent


def run_row(path: Path) -> dict[str, Any]:
    """The summary of one run folder."""
    config = _read(path / files.CONFIG, yaml.safe_load) or {}
    metrics = _read(path / files.METRICS, json.loads) or {}
    evaluation = _read(path / files.EVALUATION / files.METRICS, json.loads) or {}
    try:
        history = read_history(path / files.HISTORY) if (path / files.HISTORY).is_file() else []
    except (CnnlabError, ValueError, KeyError, OSError, TypeError):  # a damaged history: empty cells
        history = []
    data = config.get("data") if isinstance(config, dict) else None
    source = data.get("source") if isinstance(data, dict) else data
    planned = config.get("epochs") if isinstance(config, dict) else None
    done = metrics.get("epochs_completed", len(history)) if isinstance(metrics, dict) else len(history)
    test_acc = metrics.get("test_acc") if isinstance(metrics, dict) else None
    if test_acc is None and isinstance(evaluation, dict):
        test_acc = evaluation.get("accuracy")
    return {
        "name": path.name,
        "model": config.get("model") if isinstance(config, dict) else None,
        "data": str(source) if source is not None else None,
        "epochs": _number(done),
        "epochs_planned": _number(planned),
        "best_val_acc": _best(history, "val_acc", max),
        "best_val_loss": _best(history, "val_loss", min),
        "test_acc": _number(test_acc),
        "wall_s": _wall(path),
        "status": _status(path, metrics),
    }


def _read(path: Path, parse) -> Any:
    try:
        return parse(path.read_text(encoding="utf-8")) if path.is_file() and not path.is_symlink() else None
    except (ValueError, OSError, yaml.YAMLError, UnicodeDecodeError, RecursionError):
        return None


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return value


def _best(history: list[dict[str, Any]], key: str, pick) -> float | None:
    values = [v for v in (_number(r.get(key)) for r in history) if v is not None]
    return pick(values) if values else None


def _wall(path: Path) -> float | None:
    start, end = path / files.CONFIG, path / files.METRICS
    if not (start.is_file() and end.is_file()):
        return None
    return max(0.0, end.stat().st_mtime - start.stat().st_mtime)


def _status(path: Path, metrics: Any) -> str:
    if isinstance(metrics, dict) and isinstance(metrics.get("status"), str):
        return metrics["status"]
    if (path / files.METRICS).is_file():
        return "unreadable metrics"
    return "running or stopped" if (path / files.LAST).is_file() else "not started"
