"""Weight EMA (`--ema`): an exponential moving average of the weights, timm's `ModelEmaV3`.

The average is updated after every optimizer step and is what the run validates, keeps as
`best`, tests and hands on: checkpoints hold it as their `model` (so `evaluate`, `predict`,
`explain` and the report read the averaged model without knowing), and the live weights as
`live_model`, for `--resume`.

The decay warms up with the step (timm's `use_warmup`: 1 − (1 + step)^(−2/3), capped at
`ema_decay`), so short runs average over their recent steps instead of staying at the
initial weights: ≈ 0.92 after 40 steps, 0.99 after 1,000, the cap after ≈ 350,000.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class WeightEma:
    """The moving average of `model`'s weights and buffers, on the model's device."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        from timm.utils import ModelEmaV3

        self.ema = ModelEmaV3(model, decay=decay, use_warmup=True)
        self.steps = 0

    @property
    def module(self) -> nn.Module:
        """The averaged model (always in eval mode)."""
        return self.ema.module

    def update(self, model: nn.Module) -> None:
        """Fold the live weights in after an optimizer step."""
        self.steps += 1
        self.ema.update(model, step=self.steps)

    @property
    def decay(self) -> float:
        """The decay the last update used."""
        return self.ema.get_decay(self.steps)

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps}

    def load_state_dict(self, weights: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        """Continue a resumed run: the averaged weights and the step count."""
        self.module.load_state_dict(weights)
        self.steps = int(state.get("steps", 0))

    def describe(self) -> str:
        return (f"weight EMA (timm ModelEmaV3, decay warming up to {self.ema.decay:g}): validation, best.pt, "
                "the test and the run's model use the averaged weights")
