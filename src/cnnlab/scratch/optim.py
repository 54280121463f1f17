"""Stochastic gradient descent with momentum, the update rule torch's ``optim.SGD`` uses."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from cnnlab.errors import ConfigError


class HasParams(Protocol):
    """Anything with ``params`` and ``grads`` dicts of arrays under the same keys."""

    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]


class SGD:
    """SGD with momentum and L2 weight decay, step for step the same as ``torch.optim.SGD``
    (dampening 0, no Nesterov)::

        g ← ∂L/∂θ + λ θ          (weight decay λ)
        v ← μ v + g              (momentum μ; v starts at 0, so the first step uses g)
        θ ← θ − η v              (learning rate η)

    Updates the arrays in ``model.params`` in place, reading ``model.grads`` at each step, so
    ``model`` can be a `Sequential` or a single layer.
    """

    def __init__(self, model: HasParams, lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0):
        if lr <= 0 or not 0 <= momentum < 1 or weight_decay < 0:
            raise ConfigError(f"SGD: need lr > 0 (got {lr}), 0 ≤ momentum < 1 (got {momentum})"
                              f" and weight_decay ≥ 0 (got {weight_decay})")
        self.model = model
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.velocity = {k: np.zeros_like(p) for k, p in model.params.items()}

    def step(self) -> None:
        """Apply one update to every parameter from its current gradient."""
        grads = self.model.grads
        for key, param in self.model.params.items():
            g = grads[key]
            if self.weight_decay:
                g = g + self.weight_decay * param
            if self.momentum:
                v = self.velocity[key]
                v *= self.momentum
                v += g
                g = v
            param -= self.lr * g  # in place: the layer holds this same array
