"""`SingleDevice`: the few Lightning Fabric calls the loop makes, for one process on the CPU at 32-bit.

Importing Lightning costs about 6 s on the 2-core machine (`python -X importtime`: it pulls in
torchmetrics, torchvision's models, torch._dynamo and scipy) — more than a whole short run of a
head on cached features trains. A run on one CPU at full precision needs none of what Fabric
adds (no processes to launch, no gradients to synchronise, no autocast), so `make_fabric` hands
the loop this object instead and Lightning is imported only when devices, nodes, a strategy, an
accelerator or a precision need it. Every method does what Fabric's does with one process on
one device; the names and signatures are Fabric's, so the loop does not know which it has.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from typing import Any

import torch
from torch import nn


class SingleDevice:
    """Fabric's interface as the loop uses it, for world size 1 on one device without autocast."""

    world_size = 1
    global_rank = 0
    is_global_zero = True

    def __init__(self, device: torch.device | str = "cpu"):
        self.device = torch.device(device)

    def launch(self, function: Callable | None = None, *args: Any) -> Any:
        """Nothing to launch: run `function(self, *args)` here (Fabric's signature)."""
        return function(self, *args) if function is not None else None

    def seed_everything(self, seed: int, verbose: bool = False) -> int:
        """Seed Python, NumPy and torch as Fabric's `seed_everything` does."""
        random.seed(seed)
        import numpy as np

        np.random.seed(seed)
        torch.manual_seed(seed)
        return seed

    def setup(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[nn.Module, torch.optim.Optimizer]:
        """The model on the device (in place: the optimizer's parameters stay the same tensors)."""
        return model.to(self.device), optimizer

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def autocast(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()  # 32-bit: Fabric's precision context does nothing either

    def no_backward_sync(self, model: nn.Module, enabled: bool = True) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()  # one process: no gradients to synchronise

    def clip_gradients(self, model: nn.Module, optimizer: torch.optim.Optimizer, max_norm: float) -> torch.Tensor:
        return torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)

    def all_reduce(self, data: torch.Tensor, reduce_op: str = "mean") -> torch.Tensor:
        return data  # the sum (or mean) over one process is its own value

    def all_gather(self, data: torch.Tensor) -> torch.Tensor:
        return data

    def barrier(self) -> None:
        return None

    def broadcast(self, obj: Any, src: int = 0) -> Any:
        return obj


def needs_lightning(accelerator: str, devices: int, num_nodes: int, strategy: str, precision: str,
                    launched_externally: bool) -> bool:
    """False when the run is one process on the CPU at 32-bit: `SingleDevice` does all of it."""
    if devices * num_nodes != 1 or strategy != "auto" or launched_externally:
        return True
    if precision not in ("32", "32-true"):
        return True  # autocast and its dtype handling are Fabric's
    if accelerator == "cpu":
        return False
    if accelerator == "auto":
        mps = getattr(torch.backends, "mps", None)
        return torch.cuda.is_available() or bool(mps is not None and mps.is_available())
    return True
