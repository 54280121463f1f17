"""Images that most excite a unit (CS231n, after Girshick et al.): score every image of a split
by one channel's strongest response (its maximum over positions, for feature maps) and show the
top N with their scores and classes."""

from __future__ import annotations

import torch


def channel_score(channel: int):
    """reduce(batch of layer outputs) → one score per image: the channel's peak activation."""
    def reduce(t: torch.Tensor) -> torch.Tensor:
        c = t[:, channel]
        return c.flatten(1).amax(dim=1) if c.dim() > 1 else c
    return reduce
