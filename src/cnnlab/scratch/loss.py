"""Softmax cross-entropy: the classification loss, with its famously simple gradient."""

from __future__ import annotations

import numpy as np

from cnnlab.errors import ModelError


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits) against integer labels, like torch's
    ``F.cross_entropy``.

    Forward, for N rows of K logits ``z`` and labels ``y``::

        log p[n, k] = z[n, k] − log Σ_j exp z[n, j]        (shifted by max z[n] for stability)
        L = −(1/N) Σ_n log p[n, y_n]

    Backward::

        ∂L/∂z[n, k] = (p[n, k] − [k = y_n]) / N
    """

    def __init__(self) -> None:
        self._probs: np.ndarray | None = None
        self._labels: np.ndarray | None = None

    def __call__(self, logits: np.ndarray, labels: np.ndarray) -> float:
        return self.forward(logits, labels)

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        """Return the mean loss and keep the probabilities for `backward`."""
        logits = np.asarray(logits)
        labels = np.asarray(labels)
        if logits.ndim != 2 or labels.shape != (logits.shape[0],):
            raise ModelError(f"SoftmaxCrossEntropy: expected logits N×K and labels (N,), got "
                             f"{logits.shape} and {labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() >= logits.shape[1]):
            raise ModelError(f"SoftmaxCrossEntropy: labels must lie in 0…{logits.shape[1] - 1} "
                             f"for {logits.shape[1]} classes, got {labels.min()}…{labels.max()}")
        # subtracting the row max leaves softmax unchanged and keeps exp() from overflowing
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self._probs = np.exp(log_probs)
        self._labels = labels
        return float(-log_probs[np.arange(labels.size), labels].mean())

    def backward(self, dloss: float = 1.0) -> np.ndarray:
        """Gradient of ``dloss · L`` with respect to the logits."""
        if self._probs is None:
            raise RuntimeError("SoftmaxCrossEntropy: backward() called before forward()")
        n = self._labels.size
        grad = self._probs.copy()
        grad[np.arange(n), self._labels] -= 1.0
        return grad * (dloss / n)
