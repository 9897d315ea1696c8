"""Metrics for classification and regression, and the rule for which ones a task reports.

Classification takes class indices ``y_true`` ``(N,)`` and either predicted indices ``(N,)``
or per-class scores ``(N, K)``; regression takes targets and predictions of the same shape.

    accuracy, top_k_accuracy          share of right answers (top-k: true class among the k best)
    precision, recall, f1             per class (arrays) and their unweighted mean ("macro")
    confusion_matrix                  m[i, j] counts true class i predicted as j
    mae, rmse, r2                     mean absolute error, root mean squared error, R²

``evaluate`` reports ``accuracy`` for classification and ``mae``, ``rmse``, ``r2`` for
regression unless ``metrics=[...]`` names others (names in ``METRICS``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ConfigError, ShapeError

if TYPE_CHECKING:
    from .labels import Targets
    from .losses import Loss

__all__ = [
    "METRICS",
    "accuracy",
    "class_scores",
    "classification_report",
    "compute",
    "confusion_matrix",
    "default_metrics",
    "f1",
    "mae",
    "precision",
    "precision_recall_f1",
    "r2",
    "recall",
    "rmse",
    "top_k_accuracy",
]


def _predicted(y_pred: Any) -> np.ndarray:
    p = np.asarray(y_pred)
    if p.ndim == 2 and p.shape[1] > 1:
        return p.argmax(axis=1)
    if p.ndim == 2:  # one output: a probability of class 1
        return (p[:, 0] >= 0.5).astype(np.int64)
    return p.astype(np.int64)


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Share of samples whose predicted class (argmax of scores, or the index) is right."""
    y = np.asarray(y_true).reshape(-1)
    if y.size == 0:
        return float("nan")
    return float(np.count_nonzero(_predicted(y_pred).reshape(-1) == y) / y.size)


def top_k_accuracy(y_true: Any, scores: Any, k: int = 5) -> float:
    """Share of samples whose true class is among the ``k`` highest of ``scores`` ``(N, K)``."""
    s = np.asarray(scores)
    y = np.asarray(y_true).reshape(-1)
    if s.ndim != 2 or len(s) != len(y):
        raise ShapeError(f"top_k_accuracy takes scores (N, K) for N labels, got {s.shape}")
    k = min(int(k), s.shape[1])
    # The true class is in the top k when fewer than k classes score strictly higher.
    higher = (s > s[np.arange(len(y)), y][:, None]).sum(axis=1)
    return float(np.mean(higher < k)) if len(y) else float("nan")


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None) -> np.ndarray:
    """``m[i, j]``: how many samples of true class i were predicted as class j (int64)."""
    y = np.asarray(y_true).reshape(-1).astype(np.intp)
    p = _predicted(y_pred).reshape(-1).astype(np.intp)
    if num_classes is None:
        num_classes = int(max(np.max(y, initial=-1), np.max(p, initial=-1))) + 1
        if np.ndim(y_pred) == 2:
            num_classes = max(num_classes, np.shape(y_pred)[1])
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (y, p), 1)
    return m


def precision_recall_f1(
    y_true: Any, y_pred: Any, num_classes: int | None = None
) -> dict[str, np.ndarray]:
    """Per-class ``precision``, ``recall`` and ``f1`` arrays ``(K,)`` (NaN where undefined)."""
    m = confusion_matrix(y_true, y_pred, num_classes).astype(np.float64)
    right = np.diag(m)
    with np.errstate(divide="ignore", invalid="ignore"):
        prec = right / m.sum(axis=0)
        rec = right / m.sum(axis=1)
        f = 2 * prec * rec / (prec + rec)
    f[(prec == 0) & (rec == 0)] = 0.0
    return {"precision": prec, "recall": rec, "f1": f}


def _macro(values: np.ndarray) -> float:
    kept = values[~np.isnan(values)]
    return float(kept.mean()) if kept.size else float("nan")


def precision(y_true: Any, y_pred: Any) -> float:
    """Macro precision: the mean over classes that were predicted at least once."""
    return _macro(precision_recall_f1(y_true, y_pred)["precision"])


def recall(y_true: Any, y_pred: Any) -> float:
    """Macro recall: the mean over classes present in ``y_true``."""
    return _macro(precision_recall_f1(y_true, y_pred)["recall"])


def f1(y_true: Any, y_pred: Any) -> float:
    """Macro F1: the mean of the per-class harmonic means of precision and recall."""
    return _macro(precision_recall_f1(y_true, y_pred)["f1"])


def mae(y_true: Any, y_pred: Any) -> float:
    """Mean absolute error over every element."""
    return float(np.mean(np.abs(np.asarray(y_pred, np.float64) - np.asarray(y_true, np.float64))))


def rmse(y_true: Any, y_pred: Any) -> float:
    """Root of the mean squared error over every element."""
    d = np.asarray(y_pred, np.float64) - np.asarray(y_true, np.float64)
    return float(np.sqrt(np.mean(d * d)))


def r2(y_true: Any, y_pred: Any) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot over every element (1 is perfect)."""
    y = np.asarray(y_true, np.float64).reshape(-1)
    p = np.asarray(y_pred, np.float64).reshape(-1)
    total = float(np.sum((y - y.mean()) ** 2))
    residual = float(np.sum((y - p) ** 2))
    return 1.0 - residual / total if total > 0 else float("nan")


CLASSIFICATION_METRICS = ("accuracy", "top_k_accuracy", "precision", "recall", "f1")
REGRESSION_METRICS = ("mae", "rmse", "r2")
METRICS = (*CLASSIFICATION_METRICS, *REGRESSION_METRICS)


def default_metrics(task: str) -> tuple[str, ...]:
    """What ``evaluate`` and ``fit`` report for a task: accuracy, or mae/rmse/r2."""
    return ("accuracy",) if task == "classification" else REGRESSION_METRICS


def check_metrics(names: Sequence[str] | None, where: str = "metrics") -> tuple[str, ...] | None:
    """Validate metric names (``top_5_accuracy`` style names included)."""
    if names is None:
        return None
    import difflib

    if isinstance(names, str):
        names = [names]
    for name in names:
        if not isinstance(name, str) or _parse(name) is None:
            close = difflib.get_close_matches(str(name), METRICS, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"{where}: unknown metric {name!r}{hint}; use {', '.join(METRICS)} "
                "(top_k_accuracy as top_3_accuracy, ...)"
            )
    return tuple(names)


def _parse(name: str) -> tuple[str, int] | None:
    if name in METRICS:
        return name, 5
    parts = name.split("_")
    if len(parts) == 3 and parts[0] == "top" and parts[1].isdigit() and parts[2] == "accuracy":
        return "top_k_accuracy", int(parts[1])
    return None


def class_scores(pred: Any) -> np.ndarray:
    """Per-class probabilities ``(N, K)`` from model outputs.

    Rows that already are probabilities (in [0, 1], summing to 1) are kept; other rows go
    through softmax. One output per sample is a probability of class 1 (outside [0, 1] it
    goes through the logistic function) and becomes ``[1 - p, p]``.
    """
    p = np.asarray(pred, dtype=np.float64)
    p = p.reshape(len(p), -1)
    if p.shape[1] == 1:
        if p.size and (p.min() < 0 or p.max() > 1):
            p = 1 / (1 + np.exp(-p))
        return np.concatenate([1 - p, p], axis=1)
    if p.size and p.min() >= 0 and p.max() <= 1 and np.allclose(p.sum(axis=1), 1, atol=1e-3):
        return p
    z = p - p.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def compute(
    targets: Targets, pred: np.ndarray, metrics: Sequence[str] | None = None
) -> dict[str, float]:
    """The named metrics (default: the task's) of predictions ``pred`` against ``targets``.

    Classification metrics on regression targets (and the reverse) are a ``ConfigError``.
    """
    names = tuple(metrics) if metrics is not None else default_metrics(targets.task)
    out: dict[str, float] = {}
    for name in names:
        parsed = _parse(name)
        if parsed is None:
            check_metrics([name])
            continue
        kind, k = parsed
        if kind in REGRESSION_METRICS:
            fn = {"mae": mae, "rmse": rmse, "r2": r2}[kind]
            out[name] = fn(targets.y, pred)
            continue
        if targets.labels is None:
            raise ConfigError(
                f"metric {name!r} needs class labels, but the targets are regression targets; "
                f"use {', '.join(REGRESSION_METRICS)}"
            )
        scores = np.asarray(pred).reshape(len(pred), -1)
        if kind == "top_k_accuracy":
            out[name] = top_k_accuracy(targets.labels, class_scores(scores), k)
        elif kind == "accuracy":
            out[name] = accuracy(targets.labels, scores)
        else:
            k_classes = max(class_scores(scores).shape[1], 1)
            values = precision_recall_f1(targets.labels, scores, k_classes)[kind]
            out[name] = _macro(values)
    return out


def classification_report(
    y_true: Any, scores: Any, class_names: Sequence[str] | None = None
) -> dict[str, Any]:
    """Accuracy, per-class samples/precision/recall/F1 (with names), macro means and the
    confusion matrix, as plain data (what ``nnf evaluate`` prints)."""
    s = class_scores(scores)
    y = np.asarray(y_true).reshape(-1).astype(np.int64)
    k = max(s.shape[1], int(np.max(y, initial=-1)) + 1, len(class_names or ()))
    names = [str(n) for n in (class_names or ())] + [
        str(i) for i in range(len(class_names or ()), k)
    ]
    m = confusion_matrix(y, s, k)
    prf = precision_recall_f1(y, s, k)

    def plain(v: float) -> float | None:
        return None if np.isnan(v) else float(v)

    per_class = [
        {
            "class": i,
            "name": names[i],
            "samples": int(m[i].sum()),
            "accuracy": plain(m[i, i] / m[i].sum()) if m[i].sum() else None,
            "precision": plain(prf["precision"][i]),
            "recall": plain(prf["recall"][i]),
            "f1": plain(prf["f1"][i]),
        }
        for i in range(k)
    ]
    return {
        "accuracy": accuracy(y, s),
        "macro": {key: plain(_macro(prf[key])) for key in ("precision", "recall", "f1")},
        "per_class": per_class,
        "confusion_matrix": m.tolist(),
        "class_names": names,
    }


def loss_value(loss: Loss, targets: Targets, pred: np.ndarray) -> float:
    """The mean loss of ``pred`` against encoded ``targets``."""
    return float(loss(targets.y, pred))
