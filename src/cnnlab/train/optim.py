"""Optimizers and learning-rate schedules, built from a TrainConfig.

Schedules step once per optimizer step, so "step" (StepLR), "cosine" and a linear warmup
compose into one multiplier of the base learning rate; "plateau" steps once per epoch on
the monitored metric; "onecycle" is torch's own OneCycleLR.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR, OneCycleLR, ReduceLROnPlateau

from cnnlab.errors import ConfigError


def build_optimizer(params: Iterable[Any], name: str, lr: float, weight_decay: float = 0.0,
                    momentum: float = 0.9, nesterov: bool = False) -> torch.optim.Optimizer:
    """SGD (with momentum/Nesterov), Adam, AdamW or RMSprop. `weight_decay` is the L2 term
    (decoupled for AdamW). `params` may be parameter groups with their own "lr"."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0,
                               weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "rmsprop":
        # Keras' RMSprop defaults (rho 0.9, epsilon 1e-7), so the Keras-book recipes match.
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7, weight_decay=weight_decay)
    raise ConfigError(f"optimizer: {name!r} (expected sgd, adam, adamw or rmsprop)")


class LRSchedule:
    """One learning-rate schedule with a per-batch and a per-epoch hook, saved with checkpoints."""

    def __init__(self, optimizer: torch.optim.Optimizer, name: str, epochs: int, steps_per_epoch: int,
                 step_size: int = 10, gamma: float = 0.1, warmup_epochs: float = 0.0,
                 plateau_patience: int = 3, monitor_mode: str = "min"):
        self.name = name
        steps_per_epoch = max(1, steps_per_epoch)
        total = epochs * steps_per_epoch
        warmup = int(round(warmup_epochs * steps_per_epoch))
        if warmup and name in ("onecycle", "plateau"):
            raise ConfigError(f"warmup_epochs: {warmup_epochs} cannot be combined with scheduler {name!r} "
                              "(onecycle has its own warmup; use step or cosine)")
        self.batch_scheduler = None
        self.epoch_scheduler = None
        if name == "onecycle":
            max_lr = [g["lr"] for g in optimizer.param_groups]
            self.batch_scheduler = OneCycleLR(optimizer, max_lr=max_lr, total_steps=total)
        elif name == "plateau":
            self.epoch_scheduler = ReduceLROnPlateau(optimizer, mode=monitor_mode, factor=gamma,
                                                     patience=plateau_patience)
        elif name in ("none", "step", "cosine") and (name != "none" or warmup):
            def factor(step: int) -> float:
                f = min(1.0, (step + 1) / warmup) if warmup else 1.0
                if name == "step":
                    f *= gamma ** (step // steps_per_epoch // step_size)
                elif name == "cosine":
                    t = min(1.0, max(0, step - warmup) / max(1, total - warmup))
                    f *= 0.5 * (1 + math.cos(math.pi * t))
                return f

            self.batch_scheduler = LambdaLR(optimizer, factor)
        elif name not in ("none", "step", "cosine"):
            raise ConfigError(f"scheduler: {name!r} (expected none, step, cosine, onecycle or plateau)")
        self.optimizer = optimizer

    def step_batch(self) -> None:
        if self.batch_scheduler is not None:
            self.batch_scheduler.step()

    def step_epoch(self, metric: float) -> None:
        if self.epoch_scheduler is not None:
            self.epoch_scheduler.step(metric)

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[-1]["lr"])

    def state_dict(self) -> dict[str, Any]:
        s = self.batch_scheduler or self.epoch_scheduler
        return {"name": self.name, "state": s.state_dict() if s is not None else {}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        s = self.batch_scheduler or self.epoch_scheduler
        if s is not None and state.get("state"):
            s.load_state_dict(state["state"])
