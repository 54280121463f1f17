"""From a TrainConfig to the model being trained: build it from the registry, set dropout, check
that the input fits, and (for transfer learning) load weights, freeze and unfreeze by phase.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from cnnlab.data.bundle import DataBundle
from cnnlab.errors import ConfigError
from cnnlab.train.config import TrainConfig


@dataclass
class TrainingModel:
    """The model under training plus what the loop needs to know about it."""

    model: nn.Module
    architecture: dict[str, Any]
    binary_output: bool = False
    phases: list[dict[str, Any]] = field(default_factory=list)  # transfer: what trains when
    phase_index: int = 0
    backbone_lr_mult: float = 1.0
    record: dict[str, Any] = field(default_factory=dict)  # transfer: weights, blocks, phases, feature cache

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Trainable parameters, in groups with their own learning rate where the phase asks."""
        if self.phases or self.backbone_lr_mult != 1.0:
            from cnnlab.models.transfer import param_groups

            return param_groups(self.model, lr, self.backbone_lr_mult)
        return [{"params": [p for p in self.model.parameters() if p.requires_grad]}]

    def start_epoch(self, epoch: int, optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> bool:
        """Enter the phase that starts at `epoch`, if any; True when the optimizer changed."""
        if not self.phases:
            return False
        from cnnlab.train.transfer_setup import enter_phase

        for i, phase in enumerate(self.phases):
            if phase["start_epoch"] == epoch and i != self.phase_index:
                self.phase_index = i
                enter_phase(self, phase, optimizer, cfg)
                return True
        return False

    def phase_message(self) -> str:
        if not self.phases:
            return ""
        p = self.phases[self.phase_index]
        return f"phase '{p['name']}': {p['description']}"

    def phase_state(self) -> dict[str, Any]:
        return {"index": self.phase_index}

    def load_phase_state(self, state: dict[str, Any]) -> None:
        if self.phases and "index" in state and state["index"] != self.phase_index:
            from cnnlab.models.transfer import apply_phase_freezing

            self.phase_index = int(state["index"])
            apply_phase_freezing(self, self.phases[self.phase_index])

    def parameter_counts(self) -> dict[str, int]:
        total = sum(p.numel() for p in self.model.parameters())
        trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        return {"total": total, "trainable": trainable, "frozen": total - trainable}

    def frozen_summary(self) -> dict[str, Any]:
        """Which top-level blocks are frozen now, and per phase (recorded in checkpoints)."""
        blocks = {}
        for name, module in self.model.named_children():
            params = list(module.parameters())
            if params:
                blocks[name] = "frozen" if not any(p.requires_grad for p in params) else "trainable"
        return {"phase": self.phases[self.phase_index]["name"] if self.phases else "all",
                "blocks": blocks, "phases": [{k: v for k, v in p.items() if k != "modules"} for p in self.phases]}


def set_dropout(model: nn.Module, rate: float) -> int:
    """Set the rate of every Dropout layer; returns how many there were."""
    n = 0
    for m in model.modules():
        if isinstance(m, (nn.Dropout, nn.Dropout2d, nn.Dropout1d, nn.AlphaDropout)):
            m.p = rate
            n += 1
    return n


def build_training_model(cfg: TrainConfig, data: DataBundle, smoke: bool = False) -> TrainingModel:
    """Build the configured model for this data, check the input fits, apply dropout/transfer.
    A smoke run may stand random weights in for pretrained ones that are not on this machine."""
    from cnnlab.models import build_model
    from cnnlab.models.output_size import check_input_size

    if cfg.transfer != "none" or cfg.weights is not None:
        from cnnlab.train.transfer_setup import build_transfer_model

        tm = build_transfer_model(cfg, data, smoke)
    else:
        model = build_model(cfg.model, num_classes=data.num_classes, in_channels=data.channels,
                            input_size=data.input_size, **cfg.model_kwargs)
        if getattr(model, "binary_output", False) and data.num_classes != 2:
            raise ConfigError(f"model: {cfg.model!r} has one sigmoid output, for two classes; the data has "
                              f"{data.num_classes} ({data.class_names})")
        arch = getattr(model, "cnnlab_architecture", None)
        if arch is None:
            raise ConfigError(f"model_kwargs: {cfg.model_kwargs} cannot be stored in a checkpoint "
                              "(use plain numbers, text, lists)")
        tm = TrainingModel(model, arch, bool(getattr(model, "binary_output", False)))
    if cfg.dropout is not None:
        if set_dropout(tm.model, cfg.dropout) == 0:
            raise ConfigError(f"dropout: {cfg.model!r} has no Dropout layer to set (use a model with dropout, "
                              "or a pattern spec with a 'dropout' block)")
    check_input_size(tm.model, (data.channels, *data.input_size), label=cfg.model)
    return tm
