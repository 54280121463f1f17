"""What every explain method starts from: the model with its traced layers, the layers asked
for, and — for the per-image methods — the prepared image and the class to explain."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from cnnlab.errors import ConfigError
from cnnlab.explain.inputs import (PreparedImage, class_index, class_scores, predict_one, prediction_dict,
                                   prepare_image, run_data)
from cnnlab.explain.target_layers import LayerInfo, cam_layer, default_layer, find_layer
from cnnlab.run.checkpoint import LoadedModel
from cnnlab.run.folder import Run


@dataclass
class ExplainContext:
    """The model in eval mode, its layers in forward order, the layer names the caller gave
    (None: the method's default), and data settings overriding the run's own (whole-split methods).

    Per-image methods also get `image` (prepared as in training), `target` (the index of the
    class to explain: the given one, else the predicted one), `probs` and `prediction`.
    """

    loaded: LoadedModel
    layers: list[LayerInfo]
    names: list[str] | None = None
    data_options: dict[str, Any] = field(default_factory=dict)
    image: PreparedImage | None = None
    probs: np.ndarray | None = None
    target: int | None = None
    prediction: dict | None = None
    run: Run | None = None  # where the model came from: its data, loaded once, for the whole-split methods

    @property
    def model(self) -> torch.nn.Module:
        return self.loaded.model

    def with_image(self, image: Any, target: int | str | None) -> ExplainContext:
        """Prepare `image` and settle the class to explain (a name, an index, or None: predicted)."""
        self.image = prepare_image(self.loaded, image)
        self.probs = predict_one(self.loaded, self.image.batch)
        self.target = class_index(self.loaded, target, self.probs)
        self.prediction = prediction_dict(self.loaded, self.probs, self.target)
        return self

    @property
    def about(self) -> str:
        """"7 (p=0.981)": the explained class and its probability."""
        return f"{self.prediction['class']} (p={self.prediction['probability']:.3f})"

    def class_scores(self):
        """forward(x) → one logit per class (binary models as two), and the explained class as a batch."""
        return class_scores(self.loaded), torch.tensor([self.target], device=self.image.batch.device)

    def one_layer(self, method: str, *, cam: bool = False) -> str:
        """The one layer a method works on: the one given, else the last conv layer (`cam`: its
        block output after the activation, Grad-CAM's default)."""
        if self.names and len(self.names) > 1:
            raise ConfigError(f"{method}: takes one layer, got {self.names}")
        if self.names:
            return self.names[0]
        return cam_layer(self.model, self.layers) if cam else default_layer(self.model, self.layers)

    def layer(self, name: str) -> LayerInfo:
        return find_layer(self.layers, name)

    def split(self, name: str):
        """The run's own data (as training resolved it, with `data_options` on top): split `name`."""
        return run_data(self.run or self.loaded, **self.data_options).split(name)
