"""A run's history: one row per epoch in history.csv, and the loss and accuracy curves drawn from it."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from cnnlab.errors import CheckpointError

HISTORY_FIELDS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s"]


def history_csv(history: list[dict[str, Any]]) -> str:
    """The rows as CSV text, numbers to 6 significant digits."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, extrasaction="ignore")
    w.writeheader()
    for row in history:
        w.writerow({k: _fmt(row.get(k)) for k in HISTORY_FIELDS})
    return buf.getvalue()


MAX_RUN_FILE_BYTES = 64 << 20  # history.csv of 10,000 epochs is ~1 MB


def read_history(path: str | Path) -> list[dict[str, Any]]:
    """history.csv back as a list of dicts with numbers; a damaged file is refused with the line
    and column that is wrong (CheckpointError), never a traceback."""
    from cnnlab.regular_files import FileRefused, read_regular_file

    path = Path(path)
    try:
        text = read_regular_file(path, MAX_RUN_FILE_BYTES, "history file").decode("utf-8")
    except FileRefused as e:
        raise CheckpointError(str(e)) from None
    except UnicodeDecodeError as e:
        raise CheckpointError(f"{path}: not UTF-8 text (byte {e.start}); the file is damaged: delete it, or "
                              "resume the run to write it again") from None
    rows = []
    try:
        for line, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
            if None in row or None in row.values():
                raise CheckpointError(f"{path}: line {line} has {len(row) - (None in row)} values, not one per "
                                      "column; the file is damaged: delete it, or resume the run to write it again")
            parsed = {}
            for k, v in row.items():
                if v == "":
                    continue
                try:
                    parsed[k] = int(v) if k == "epoch" else float(v)
                except ValueError:
                    raise CheckpointError(f"{path}: line {line}, column {k!r}: {v[:40]!r} (expected a number); the "
                                          "file is damaged: delete it, or resume the run to write it again") from None
            rows.append(parsed)
    except csv.Error as e:
        raise CheckpointError(f"{path}: not a readable CSV file ({e})") from None
    return rows


def read_json_file(path: str | Path) -> dict[str, Any]:
    """A run's JSON file (metrics.json) as a dict; a damaged, nested or huge one is refused with
    one line naming it (CheckpointError)."""
    from cnnlab.bounds import load_json_bounded
    from cnnlab.regular_files import FileRefused, read_regular_file

    path = Path(path)
    try:
        data = read_regular_file(path, MAX_RUN_FILE_BYTES, "JSON file")
    except FileRefused as e:
        raise CheckpointError(str(e)) from None
    try:
        value = load_json_bounded(data, str(path), CheckpointError)
    except CheckpointError as e:
        raise CheckpointError(f"{e}; the file is damaged: delete it, or run the verb that writes it again") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


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
