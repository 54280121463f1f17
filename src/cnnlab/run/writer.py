"""What `fit` writes into its run folder, file by file.

Every file is written atomically, and only by the process that owns the folder (rank 0): on the
other ranks of a data-parallel run the writer is disabled and writes nothing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from cnnlab.atomic import atomic_write, atomic_write_bytes, atomic_write_text
from cnnlab.run import files
from cnnlab.run.checkpoint import save_checkpoint
from cnnlab.run.data_settings import write_data_settings
from cnnlab.run.history import CurvesFigure, history_csv
from cnnlab.settings import DataConfig


# curves.png is redrawn at most every CURVES_EVERY_S seconds during training, and always at the
# end. Drawing it took ~0.5 s per epoch on the 2-core machine (up to 2.8 s when it was loaded):
# 11.5 s of a 20-epoch run whose head trained in under a second (issue 22). A redraw also waits
# CURVES_SHARE times as long as the last drawing took, so drawing stays under ~5 % of a run's time
# however slow the machine or long the history.
CURVES_EVERY_S = 10.0
CURVES_SHARE = 20


class RunWriter:
    """Writes the files of one training run; a no-op on ranks other than 0 (`enabled=False`)."""

    def __init__(self, path: Path, enabled: bool = True, curves_every_s: float | None = None):
        self.path = Path(path)
        self.enabled = enabled
        self.written: list[str] = []  # what this process wrote (tests check rank 1 writes nothing)
        self.curves_every_s = CURVES_EVERY_S if curves_every_s is None else curves_every_s
        self.curves_drawn = 0  # how many times curves.png was drawn
        self._curves: CurvesFigure | None = None
        self._curves_at: float | None = None  # time.monotonic() when the last drawing ended
        self._curves_took = 0.0  # seconds the last drawing took
        self._curves_rows = 0  # rows of history in the last drawing

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / files.TENSORBOARD

    def _mark(self, name: str) -> None:
        if name not in self.written:
            self.written.append(name)

    def _text(self, name: str, text: str) -> None:
        if self.enabled:
            atomic_write_text(self.path / name, text)
            self._mark(name)

    def _json(self, name: str, data: Any) -> None:
        self._text(name, json.dumps(data, indent=2, default=_json_default) + "\n")

    def write_config(self, yaml_text: str) -> None:
        """config.yaml: the training settings, enough to re-run the run."""
        self._text(files.CONFIG, yaml_text)

    def write_data_settings(self, asked: DataConfig, resolved: DataConfig) -> None:
        """data.yaml: the data settings as training resolved them, read back by every verb."""
        if self.enabled:
            write_data_settings(self.path / files.DATA_SETTINGS, asked, resolved)
            self._mark(files.DATA_SETTINGS)

    def write_transfer(self, record: dict[str, Any]) -> None:
        """transfer.json: weights, blocks, what is frozen in which phase, feature cache."""
        self._json(files.TRANSFER, record)

    def save_checkpoints(self, state: dict[str, Any], best: bool) -> None:
        """last.pt (what --resume continues from), and best.pt when this epoch improved."""
        if not self.enabled:
            return
        names = (files.BEST, files.LAST) if best else (files.LAST,)
        for name in names:
            save_checkpoint(state, self.path / name)
            self._mark(name)

    def write_history(self, history: list[dict[str, Any]], best_epoch: int | None = None, curves: bool = True,
                      final: bool = False) -> None:
        """history.csv every time; curves.png drawn from it when `final`, the first time, or when the
        last drawing is `curves_every_s` old and 20 times its own drawing time (and there is a row
        it does not show yet)."""
        if not self.enabled:
            return
        self._text(files.HISTORY, history_csv(history))
        if not curves or not history or self._curves_rows == len(history):  # nothing new to draw
            return
        start = time.monotonic()
        wait = max(self.curves_every_s, CURVES_SHARE * self._curves_took)
        if final or self._curves_at is None or start - self._curves_at >= wait:
            self._draw_curves(history, best_epoch)
            self._curves_at = time.monotonic()
            self._curves_took = self._curves_at - start

    def _draw_curves(self, history: list[dict[str, Any]], best_epoch: int | None) -> None:
        if self._curves is None:
            self._curves = CurvesFigure()
        atomic_write_bytes(self.path / files.CURVES, self._curves.png(history, best_epoch))
        self._mark(files.CURVES)
        self.curves_drawn += 1
        self._curves_rows = len(history)

    def write_scripted(self, model, example) -> str | None:
        """model.torchscript.pt: a user model traced (eval mode) at the input size, so predict and
        evaluate work from the folder when its code is not importable. Returns why it could not
        be traced (data-dependent control flow, ...), or None when written."""
        if not self.enabled:
            return None
        import torch

        import warnings

        was_training = model.training
        try:
            with torch.no_grad(), warnings.catch_warnings():
                # torch 2.14 marks TorchScript deprecated in favour of torch.export; it is what
                # loads without the code here, and `cnnlab export --format torchscript` uses it too.
                warnings.simplefilter("ignore", FutureWarning)
                traced = torch.jit.trace(model.eval(), example, check_trace=False)
                atomic_write(self.path / files.SCRIPTED, lambda f: torch.jit.save(traced, f))
        except (RuntimeError, TypeError, ValueError, torch.jit.Error) as e:  # what tracing raises on code it cannot follow
            return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        finally:
            model.train(was_training)
        self._mark(files.SCRIPTED)
        return None

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        """metrics.json: the final numbers of training (or how it stopped)."""
        self._json(files.METRICS, metrics)


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
