"""Classification scores for the report: probabilities, confusion matrix, per-class figures,
and the mistakes a model was surest of. NumPy only.

The confusion matrix is computed here until ``nnf.metrics`` offers one (issue 16).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..model import Sequential


def class_probabilities(pred: np.ndarray, model: Sequential) -> np.ndarray:
    """Per-class scores ``(N, K)`` from outputs ``(N, ...)``: as they are when the model ends
    in a probability layer (Softmax, Sigmoid), else a softmax of the raw outputs; one output
    ``p`` becomes ``[1 - p, p]``."""
    p = pred.reshape(len(pred), -1).astype(np.float64)
    last = type(model.layers[-1]).key if model.layers else ""
    rows_sum_to_one = bool(np.all(p >= 0) and np.allclose(p.sum(axis=1), 1.0, atol=1e-3))
    probabilistic = last.startswith(("nnf.Softmax.", "nnf.Sigmoid.")) or (
        p.shape[1] > 1 and rows_sum_to_one
    )
    if p.shape[1] == 1:
        p = p if probabilistic else np.clip(p, 0.0, 1.0)
        return np.concatenate([1 - p, p], axis=1)
    if probabilistic:
        return p
    e = np.exp(p - p.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


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


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``m[i, j]`` counts samples of true class i predicted as class j, shape ``(K, K)``."""
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (y_true.astype(np.intp), y_pred.astype(np.intp)), 1)
    return m


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
