"""A run's history: one row per epoch in history.csv, and the loss and accuracy curves drawn from it."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

HISTORY_FIELDS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s"]


def history_csv(history: list[dict[str, Any]]) -> str:
    """The rows as CSV text, numbers to 6 significant digits."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, extrasaction="ignore")
    w.writeheader()
    for row in history:
        w.writerow({k: _fmt(row.get(k)) for k in HISTORY_FIELDS})
    return buf.getvalue()


def read_history(path: str | Path) -> list[dict[str, Any]]:
    """history.csv back as a list of dicts with numbers."""
    with open(Path(path)) as f:
        return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items() if v != ""}
                for row in csv.DictReader(f)]


class CurvesFigure:
    """The loss and accuracy panels, train vs val, on one matplotlib Figure that is redrawn in place.

    Built with the object API (`Figure` and its Agg canvas), not pyplot: no global figure
    state, nothing to close, and one figure serves every redraw of a run.
    """

    def __init__(self) -> None:
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(10, 3.8))
        self.axes = self.figure.subplots(1, 2)

    def png(self, history: list[dict[str, Any]], best_epoch: int | None = None) -> bytes:
        """PNG bytes of the curves of `history` (one row per epoch)."""
        epochs = [r["epoch"] for r in history]
        for ax, key, title in ((self.axes[0], "loss", "loss"), (self.axes[1], "acc", "accuracy")):
            ax.clear()
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
        self.figure.tight_layout()
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=100)
        return buf.getvalue()


def plot_curves(history: list[dict[str, Any]], best_epoch: int | None = None) -> bytes:
    """PNG bytes of two panels: loss and accuracy per epoch, train vs val."""
    return CurvesFigure().png(history, best_epoch)


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else v
