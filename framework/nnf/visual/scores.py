"""Classification scores for the report: class labels, per-class figures and the mistakes a
model was surest of. Probabilities and the confusion matrix come from ``nnf.metrics``."""

from __future__ import annotations

from typing import Any

import numpy as np


def class_labels(y: Any) -> np.ndarray | None:
    """Class indices ``(N,)`` from indices or one-hot rows ``(N, K)``; None for targets that
    are not class labels (regression values)."""
    y = np.asarray(y)
    if y.ndim >= 2 and y.reshape(len(y), -1).shape[1] > 1:
        return y.reshape(len(y), -1).argmax(axis=1).astype(np.int64)
    flat = y.reshape(-1)
    if flat.size and (not np.all(np.isfinite(flat)) or np.any(flat != np.round(flat))):
        return None
    if flat.size and flat.min() < 0:
        return None
    return flat.astype(np.int64)


def per_class(matrix: np.ndarray) -> list[dict[str, float | int | None]]:
    """Precision, recall, F1 and support of each class from a confusion matrix."""
    rows: list[dict[str, float | int | None]] = []
    for i in range(len(matrix)):
        hit, support, claimed = matrix[i, i], matrix[i].sum(), matrix[:, i].sum()
        precision = hit / claimed if claimed else None
        recall = hit / support if support else None
        f1 = (
            2 * precision * recall / (precision + recall)
            if precision is not None and recall is not None and precision + recall > 0
            else (0.0 if precision is not None and recall is not None else None)
        )
        rows.append(
            {
                "support": int(support),
                "precision": None if precision is None else float(precision),
                "recall": None if recall is None else float(recall),
                "f1": None if f1 is None else float(f1),
            }
        )
    return rows


def confident_mistakes(labels: np.ndarray, probabilities: np.ndarray, count: int) -> np.ndarray:
    """Indices of up to ``count`` misclassified samples, the most confident first
    (highest probability given to the wrong class)."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probabilities[wrong, predicted[wrong]]
    order = np.argsort(-confidence, kind="stable")
    return wrong[order[:count]]
