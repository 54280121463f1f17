"""Callbacks of the fit loop, each a small object with a state_dict so resume restores it."""

from __future__ import annotations

import math
from typing import Any


class MetricMonitor:
    """Tracks the best value of a metric; with `patience`, signals early stopping.

    An epoch improves when the metric beats the best by more than `min_delta` (the PyTorch MNIST
    tutorial: patience 10, delta 0.001 on validation loss). The best checkpoint is saved on
    every improvement; `should_stop` turns true after `patience` epochs without one.
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "min", patience: int | None = None,
                 min_delta: float = 0.0):
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.monitor, self.mode, self.patience, self.min_delta = monitor, mode, patience, min_delta
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = -1
        self.wait = 0

    def improved(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, value: float, epoch: int) -> bool:
        """Record one epoch's value; True when it is a new best."""
        if self.improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            return True
        self.wait += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.wait >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.wait = float(state["best"]), int(state["best_epoch"]), int(state["wait"])
