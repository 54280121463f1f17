"""Loss and probabilities for classifiers with C logits, or one logit for two classes
(the Keras book's sigmoid output: the model sets `binary_output = True`)."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def make_criterion(binary: bool, class_weights: torch.Tensor | None = None,
                   label_smoothing: float = 0.0) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Cross-entropy over C logits, or binary cross-entropy on one logit; mean over the batch."""
    if not binary:
        return torch.nn.CrossEntropyLoss(weight=class_weights, label_smoothing=label_smoothing)

    pos_weight = None
    if class_weights is not None:
        pos_weight = (class_weights[1] / class_weights[0]).reshape(1)

    def bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        t = target.to(logits.dtype).reshape(-1)
        if label_smoothing:
            t = t * (1 - label_smoothing) + 0.5 * label_smoothing
        return F.binary_cross_entropy_with_logits(logits.reshape(-1), t,
                                                  pos_weight=pos_weight.to(logits.device) if pos_weight is not None else None)

    return bce


def probabilities(logits: torch.Tensor, binary: bool = False) -> torch.Tensor:
    """N×C class probabilities (softmax; for one logit, [1 − sigmoid, sigmoid])."""
    if binary or logits.shape[-1] == 1:
        p = torch.sigmoid(logits.float().reshape(-1))
        return torch.stack([1 - p, p], dim=1)
    return torch.softmax(logits.float(), dim=1)


def inverse_frequency_weights(counts: list[int]) -> torch.Tensor:
    """Class weights N / (C · n_c): each class contributes equally to the loss."""
    c = torch.tensor(counts, dtype=torch.float32).clamp(min=1)
    return c.sum() / (len(counts) * c)
