"""Callbacks of the fit loop: the built-in monitor (a small object with a state_dict, so resume
restores it) and the user's own hooks, `fit(callbacks=[...])`, in the Keras/Lightning shape."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
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


@dataclass
class FitState:
    """What a user callback sees: where training is, the history so far, and a stop switch.

    `history` holds one dict per finished epoch (the rows of history.csv); `batch` is the 1-based
    batch of the current epoch and `loss` its loss (in `on_batch_end`). Set `stop_training = True`
    to end the run after this batch or epoch, as Keras' `model.stop_training` and Lightning's
    `trainer.should_stop` do; the best checkpoint is kept and the run finishes normally.
    """

    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    loss: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    model: Any = None
    run_dir: Any = None
    metrics: dict[str, Any] = field(default_factory=dict)  # on_fit_end: what metrics.json holds
    stop_training: bool = False


class Callback:
    """Base class of `fit(callbacks=[...])` hooks (any object with some of these methods works):

        class StopAt(Callback):
            def on_epoch_end(self, state):
                if state.history[-1]["val_acc"] >= 0.98:
                    state.stop_training = True

    Each hook gets the one `FitState`; the loop calls them on the process that writes the run.
    """

    def on_batch_end(self, state: FitState) -> None:
        """After each optimizer batch."""

    def on_epoch_end(self, state: FitState) -> None:
        """After each epoch, once its row is in `state.history` and its checkpoints are saved."""

    def on_fit_end(self, state: FitState) -> None:
        """When the run is over (metrics.json written; `state.metrics` holds it)."""


class Hooks:
    """The user's callbacks, called in order; `on_batch_end` is skipped cheaply when none has it."""

    NAMES = ("on_batch_end", "on_epoch_end", "on_fit_end")

    def __init__(self, callbacks: Any = None):
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not any(callable(getattr(cb, n, None)) for n in self.NAMES):
                from cnnlab.errors import ConfigError

                raise ConfigError(f"callbacks: {cb!r} has none of {', '.join(self.NAMES)} (subclass "
                                  "cnnlab.train.callbacks.Callback)")
        self.callbacks = callbacks
        self.state = FitState()
        self.per_batch = any(callable(getattr(cb, "on_batch_end", None)) for cb in callbacks)

    def call(self, name: str, **updates: Any) -> bool:
        """Update the state, call hook `name` of every callback; True when one asked to stop."""
        for key, value in updates.items():
            setattr(self.state, key, value)
        for cb in self.callbacks:
            hook = getattr(cb, name, None)
            if callable(hook):
                hook(self.state)
        return self.state.stop_training
