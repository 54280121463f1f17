"""Classification metrics from probabilities and true labels, computed with torchmetrics.

Loss is the mean negative log-probability of the true class: for one model it equals the
cross-entropy of its logits (binary cross-entropy for a one-logit model), and it is defined the
same way for an ensemble's averaged probabilities.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torchmetrics.classification import (MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score,
                                         MulticlassPrecision, MulticlassRecall)

# Probabilities are clipped here before the log, so one confident mistake gives a large but
# finite loss (float32 softmax can round a tiny probability to exactly 0).
PROB_FLOOR = 1e-12


def per_sample_loss(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """−log p(true class) of every sample."""
    p = probs[np.arange(len(labels)), labels]
    return -np.log(np.clip(p, PROB_FLOOR, 1.0))


def classification_metrics(probs: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
                            predictions: np.ndarray | None = None) -> dict[str, Any]:
    """Accuracy, top-5 (≥ 5 classes), loss, per-class precision/recall/F1/support, macro and
    weighted averages and the confusion matrix (counts, rows = true class).

    `predictions` overrides argmax(probs) (majority voting decides the class by votes).
    """
    n_classes = len(class_names)
    if probs.ndim != 2 or probs.shape[1] != n_classes:
        raise ValueError(f"probabilities of shape {probs.shape} for {n_classes} classes")
    p = torch.from_numpy(np.asarray(probs, dtype=np.float32))
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    pred = torch.from_numpy(np.asarray(predictions, dtype=np.int64)) if predictions is not None else p.argmax(1)

    def metric(cls, average: str | None, **kw) -> torch.Tensor:
        # zero_division=0: a class never predicted has precision 0 (sklearn's default), not NaN.
        return cls(num_classes=n_classes, average=average, **kw)(pred, y)

    kw = {"zero_division": 0}
    precision = metric(MulticlassPrecision, None, **kw)
    recall = metric(MulticlassRecall, None, **kw)
    f1 = metric(MulticlassF1Score, None, **kw)
    confusion = MulticlassConfusionMatrix(num_classes=n_classes)(pred, y).numpy().astype(np.int64)
    support = confusion.sum(axis=1)
    per_class = [{"class": name, "precision": float(precision[i]), "recall": float(recall[i]),
                  "f1": float(f1[i]), "support": int(support[i])} for i, name in enumerate(class_names)]
    averages = {avg: {"precision": float(metric(MulticlassPrecision, avg, **kw)),
                      "recall": float(metric(MulticlassRecall, avg, **kw)),
                      "f1": float(metric(MulticlassF1Score, avg, **kw)), "support": int(support.sum())}
                for avg in ("macro", "weighted")}
    top5 = None
    if n_classes >= 5:
        top5 = float(MulticlassAccuracy(num_classes=n_classes, top_k=5, average="micro")(p, y))
    return {"accuracy": float(metric(MulticlassAccuracy, "micro")), "top5": top5,
            "loss": float(per_sample_loss(probs, labels).mean()) if len(labels) else float("nan"),
            "per_class": per_class, "macro": averages["macro"], "weighted": averages["weighted"],
            "confusion": confusion}


def most_confused(confusion: np.ndarray, class_names: Sequence[str], n: int = 10) -> list[tuple[str, str, int]]:
    """The off-diagonal cells with the most images, as (true, predicted, count), largest first
    (fastai's `most_confused`)."""
    pairs = [(class_names[i], class_names[j], int(confusion[i, j]))
             for i in range(len(class_names)) for j in range(len(class_names)) if i != j and confusion[i, j] > 0]
    return sorted(pairs, key=lambda t: -t[2])[:n]


def normalize_rows(confusion: np.ndarray) -> np.ndarray:
    """Each row divided by its total (the recall of each class on the diagonal); empty rows stay 0."""
    totals = confusion.sum(axis=1, keepdims=True)
    return np.divide(confusion, totals, out=np.zeros(confusion.shape, dtype=np.float64), where=totals > 0)
