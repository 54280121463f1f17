"""Ensembles: several models' probabilities combined into one prediction per image.

Soft voting averages the probabilities (the PyTorch MNIST tutorial's suggestion). Majority
voting counts each model's top class; a tie goes to the tied class with the higher average
probability, so the result never depends on the order of the runs.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from cnnlab.errors import CheckpointError, ConfigError
from cnnlab.run.checkpoint import LoadedModel

VOTES = ("soft", "majority")


def check_compatible(models: Sequence[LoadedModel], names: Sequence[str]) -> None:
    """Refuse models whose class names or preprocessing differ from the first one's.

    Their probabilities would be averaged column by column on identically prepared images, so
    both must match exactly.
    """
    first = models[0]
    for model, name in zip(models[1:], names[1:]):
        if list(model.class_names) != list(first.class_names):
            raise CheckpointError(f"{name}: class names {model.class_names} differ from {names[0]}'s "
                                  f"{first.class_names}; an ensemble needs the same classes in the same order")
        if model.preprocessing != first.preprocessing:
            raise CheckpointError(f"{name}: preprocessing {model.preprocessing.to_dict()} differs from "
                                  f"{names[0]}'s {first.preprocessing.to_dict()}; an ensemble needs the same "
                                  "input size, channels and normalisation")


def combine_probabilities(member_probs: Sequence[np.ndarray], vote: str = "soft") -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, predicted classes) of the ensemble.

    The probabilities are always the members' average (they give the loss and top-5); the
    predicted class is their argmax ("soft") or the most common member prediction ("majority").
    """
    if vote not in VOTES:
        raise ConfigError(f"vote: {vote!r} (expected one of {', '.join(VOTES)})")
    stacked = np.stack(member_probs)  # models × N × classes
    mean = stacked.mean(axis=0)
    if vote == "soft":
        return mean, mean.argmax(axis=1)
    n_classes = mean.shape[1]
    votes = np.zeros_like(mean)
    for probs in stacked:
        votes[np.arange(len(probs)), probs.argmax(axis=1)] += 1
    # ties: votes dominate, the mean probability (< 1) only breaks them
    return mean, (votes + mean / (n_classes + 1)).argmax(axis=1)
