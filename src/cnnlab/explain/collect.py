"""One pass of a model over a data split, keeping what the tracer's hook sees at one module:
the features for t-SNE and the channel scores for top images."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from cnnlab.data.loaders import BatchLoader, Split
from cnnlab.models.tracing import ModuleCall, trace_modules


def subsample(split: Split, limit: int | None, seed: int) -> Split:
    """At most `limit` images of the split, a seeded random subset in the split's order."""
    if limit is None or len(split) <= limit:
        return split
    g = torch.Generator().manual_seed(seed)
    return split.subset(torch.randperm(len(split), generator=g)[:limit].sort().values)


def collect(model: nn.Module, module: nn.Module, split: Split, preprocessing,
            reduce: Callable[[torch.Tensor], torch.Tensor], use_input: bool = False,
            batch_size: int = 256) -> torch.Tensor:
    """reduce(hooked tensor) for every batch of the split, concatenated (N × ...).

    `use_input` hooks what enters the module (the penultimate features entering a classifier),
    else what leaves it.
    """
    out: list[torch.Tensor] = []

    def keep_reduced(call: ModuleCall, args: tuple, output) -> None:
        t = args[0] if use_input else output
        out.append(reduce(t.detach()).float().cpu())

    device = next(model.parameters()).device
    name = next(n for n, m in model.named_modules() if m is module)
    with torch.no_grad(), trace_modules(model, [name], record=False, on_call=keep_reduced):
        for x, _ in BatchLoader(split, preprocessing, batch_size, device=device):
            model(x)
    return torch.cat(out) if out else torch.zeros(0)
