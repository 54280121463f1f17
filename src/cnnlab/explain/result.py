"""The result of every explanation method: a rendered figure plus the numbers behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnlab.atomic import atomic_write_bytes


@dataclass
class Explanation:
    """What `explain` returns.

    method: the method's name; png: the rendered figure as PNG bytes; arrays: the numbers behind
    it (e.g. "heatmap", H×W in [0, 1] at the input size, for gradcam/occlusion/saliency; "maps"
    for featuremaps); title: the figure's title; path: where the PNG was written (None when no
    `out` was given); prediction: {"class", "index", "probability"} of the explained class for
    per-image methods, else None; layers: the module names whose outputs or weights it shows
    (empty for occlusion and saliency, which look only at the input).
    """

    method: str
    png: bytes
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    title: str = ""
    path: Path | None = None
    prediction: dict | None = None
    layers: list[str] = field(default_factory=list)

    def save(self, path: str | Path) -> Path:
        """Write the PNG atomically to `path` and remember where."""
        self.path = atomic_write_bytes(path, self.png)
        return self.path
