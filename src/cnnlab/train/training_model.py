"""The model under training and its phases: what trains when (transfer learning freezes the
backbone, then unfreezes it), with the learning rates of each phase."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

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
    lr_decay: float = 1.0  # finetune: each backbone block's rate is this × the one above it
    record: dict[str, Any] = field(default_factory=dict)  # transfer: weights, blocks, phases, feature cache
    user_code: bool = False  # your own nn.Module: the run folder also gets a TorchScript copy

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Trainable parameters, in groups with their own learning rate where the phase asks."""
        if self.phases or self.backbone_lr_mult != 1.0:
            from cnnlab.models.transfer import param_groups

            return param_groups(self.model, lr, self.backbone_lr_mult, self.lr_decay)
        return [{"params": [p for p in self.model.parameters() if p.requires_grad]}]

    def start_epoch(self, epoch: int, optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> bool:
        """Enter the phase that starts at `epoch`, if any; True when the optimizer changed."""
        if not self.phases:
            return False
        for i, phase in enumerate(self.phases):
            if phase["start_epoch"] == epoch and i != self.phase_index:
                self.phase_index = i
                self.enter_phase(phase, optimizer)
                return True
        return False

    def phase_epochs(self, total_epochs: int, index: int | None = None) -> int:
        """How many epochs a phase lasts (the current one by default): its learning-rate
        schedule (warm-up, cosine) runs over exactly these."""
        if not self.phases:
            return total_epochs
        i = self.phase_index if index is None else index
        end = self.phases[i + 1]["start_epoch"] if i + 1 < len(self.phases) else total_epochs + 1
        return max(1, min(end, total_epochs + 1) - self.phases[i]["start_epoch"])

    def enter_phase(self, phase: dict[str, Any], optimizer: torch.optim.Optimizer) -> None:
        """Freeze/unfreeze for `phase` and set the optimizer's rates: each group at the phase's lr
        × its `lr_scale` (the head 1, the backbone blocks their discriminative share). `initial_lr`
        is reset too, because the loop builds a new schedule for the phase and LambdaLR starts from it."""
        from cnnlab.models.transfer import apply_phase_freezing

        apply_phase_freezing(self, phase)
        for group in optimizer.param_groups:
            lr = phase["lr"] * group.get("lr_scale", 1.0)
            group["lr"] = lr
            group["initial_lr"] = lr

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
