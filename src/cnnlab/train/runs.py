"""The run folder: one self-describing folder per training run.

    runs/NAME/config.yaml        enough to re-run it (`cnnlab train --config`)
    runs/NAME/history.csv        one row per epoch
    runs/NAME/best.pt, last.pt   checkpoints (weights, optimizer, class names, preprocessing, ...)
    runs/NAME/curves.png         loss and accuracy, train vs val
    runs/NAME/metrics.json       final numbers

Every file is written atomically, and only by the process that owns the folder (rank 0).
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from cnnlab.atomic import atomic_write_bytes, atomic_write_text

HISTORY_FIELDS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s"]


def new_run_dir(project: str | Path = "runs", name: str | None = None) -> Path:
    """A new, empty run folder: `name` (default "exp"), or name2, name3, ... if it is taken.

    Existing runs are never overwritten.
    """
    project = Path(project)
    base = name or "exp"
    candidate = project / base
    if candidate.exists() and any(candidate.iterdir()):
        m = re.match(r"^(.*?)(\d+)$", base)
        stem = m.group(1) if m and name is None else base
        k = 2
        while (project / f"{stem}{k}").exists() and any((project / f"{stem}{k}").iterdir()):
            k += 1
        candidate = project / f"{stem}{k}"
    candidate.mkdir(parents=True, exist_ok=True)
    return candidate


class RunFolder:
    """Writes the files of one run; a no-op on ranks other than 0 (`enabled=False`)."""

    def __init__(self, path: Path, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled
        self.written: list[str] = []  # what this process wrote (tests check rank 1 writes nothing)

    def _mark(self, name: str) -> None:
        if name not in self.written:
            self.written.append(name)

    def write_text(self, name: str, text: str) -> None:
        if self.enabled:
            atomic_write_text(self.path / name, text)
            self._mark(name)

    def write_json(self, name: str, data: Any) -> None:
        self.write_text(name, json.dumps(data, indent=2, default=_json_default) + "\n")

    def write_history(self, history: list[dict[str, Any]]) -> None:
        if not self.enabled:
            return
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, extrasaction="ignore")
        w.writeheader()
        for row in history:
            w.writerow({k: _fmt(row.get(k)) for k in HISTORY_FIELDS})
        self.write_text("history.csv", buf.getvalue())

    def write_curves(self, history: list[dict[str, Any]], best_epoch: int | None = None) -> None:
        if self.enabled and history:
            atomic_write_bytes(self.path / "curves.png", plot_curves(history, best_epoch))
            self._mark("curves.png")


def read_history(path: str | Path) -> list[dict[str, Any]]:
    """history.csv back as a list of dicts with numbers."""
    with open(Path(path)) as f:
        return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items() if v != ""}
                for row in csv.DictReader(f)]


def plot_curves(history: list[dict[str, Any]], best_epoch: int | None = None) -> bytes:
    """PNG bytes of two panels: loss and accuracy per epoch, train vs val."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, key, title in ((axes[0], "loss", "loss"), (axes[1], "acc", "accuracy")):
        for split, style in (("train", "-o"), ("val", "-s")):
            values = [r.get(f"{split}_{key}") for r in history]
            if any(v is not None for v in values):
                ax.plot(epochs, values, style, markersize=3, label=split)
        if best_epoch is not None and best_epoch in epochs:
            ax.axvline(best_epoch, color="grey", linestyle=":", label=f"best (epoch {best_epoch})")
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else v


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
