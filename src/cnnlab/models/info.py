"""`ModelInfo`: what the registry knows about a model name (no torch here, so the catalogue can use it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about a model name: enough for a trainer to pick defaults."""

    name: str
    description: str
    input_size: tuple[int, int]  # natural (height, width)
    in_channels: int
    num_classes: int
    source: str
    # True for nets that end in global/adaptive pooling and so take any input size large enough
    # (torchvision, timm); False for nets whose classifier is sized for `input_size`.
    flexible_input: bool = False
