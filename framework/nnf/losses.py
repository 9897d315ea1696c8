"""Loss functions: the tutorial's pairs (``mse``/``mse_prime``, ...) and named ``Loss`` objects.

Shapes: ``y_true`` and ``y_pred`` share a shape: a batch ``(N, K)``, a batch of tutorial
columns ``(N, K, 1)``, one column ``(K, 1)`` or one row ``(K,)``. Cross-entropy losses also
take integer class indices for ``y_true`` (shape ``(N,)``). Every loss is a mean, so its
gradient already carries the ``1/N`` (or ``1/size`` for the tutorial's element means).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ConfigError, ShapeError


def _eps(dtype: np.dtype) -> float:
    # Keep log() finite: 1e-7 is representable next to 1.0 in float32, 1e-12 in float64.
    return 1e-7 if np.dtype(dtype).itemsize <= 4 else 1e-12


def _clip(y_pred: np.ndarray) -> np.ndarray:
    eps = _eps(y_pred.dtype)
    return np.clip(y_pred, eps, 1.0 - eps)


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Targets shaped and typed like the predictions: (N,) labels fit (N, 1) outputs, and a
    float32 prediction keeps a float32 gradient. Mismatched sizes never broadcast."""
    p = np.asarray(y_pred)
    y = np.asarray(y_true)
    if y.shape != p.shape:
        if y.size != p.size:
            raise ShapeError(f"targets shaped {y.shape} do not match predictions shaped {p.shape}")
        y = y.reshape(p.shape)
    if p.dtype.kind == "f" and y.dtype != p.dtype:
        y = y.astype(p.dtype)
    return y, p


# ------------------------------------------------------------------ the tutorial's functions
def mse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean squared error over every element (the tutorial's formula)."""
    y, p = _pair(y_true, y_pred)
    return float(np.mean(np.square(y - p)))


def mse_prime(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """d mse / d y_pred = 2 (y_pred - y_true) / size."""
    y, p = _pair(y_true, y_pred)
    return 2 * (p - y) / np.size(y)


def binary_cross_entropy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean of -y log p - (1-y) log(1-p) over every element; p is clipped away from 0 and 1."""
    y, p = _pair(y_true, y_pred)
    p = _clip(p)
    return float(np.mean(-y * np.log(p) - (1 - y) * np.log(1 - p)))


def binary_cross_entropy_prime(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """((1-y)/(1-p) - y/p) / size, with p clipped like the loss."""
    y, p = _pair(y_true, y_pred)
    p = _clip(p)
    return ((1 - y) / (1 - p) - y / p) / np.size(y)


# --------------------------------------------------------------------------- helpers
def _class_view(a: np.ndarray) -> np.ndarray:
    """Drop the tutorial's trailing column axis: (N, K, 1) -> (N, K), (K, 1) -> (K,)."""
    return a[..., 0] if a.ndim >= 2 and a.shape[-1] == 1 else a


def _class_labels(y_true: Any, pred: np.ndarray) -> np.ndarray | None:
    """``y_true`` as checked class indices, one per row of ``pred`` (flattened), or None if
    it holds other targets (one-hot, probabilities)."""
    y_true = np.asarray(y_true)
    if not (y_true.dtype.kind in "iu" and y_true.ndim == pred.ndim - 1):
        return None
    k = pred.shape[-1]
    if y_true.shape != pred.shape[:-1]:
        raise ShapeError(
            f"class labels shaped {y_true.shape} do not match predictions shaped "
            f"{pred.shape}: give one label per prediction row"
        )
    labels = y_true.reshape(-1)
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise ShapeError(f"class index out of range: labels must lie in [0, {k - 1}]")
    return labels


def _targets_like(y_true: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """One-hot targets shaped like ``pred`` (class axis last); accepts class indices."""
    labels = _class_labels(y_true, pred)
    if labels is not None:
        out = np.zeros((labels.size, pred.shape[-1]), dtype=pred.dtype)
        out[np.arange(labels.size), labels] = 1  # ~3x faster than put_along_axis here
        return out.reshape(pred.shape)
    y = _class_view(y_true)
    if y.shape != pred.shape:
        raise ShapeError(
            f"targets shaped {y_true.shape} do not match predictions shaped {pred.shape}"
        )
    return y.astype(pred.dtype, copy=False) if pred.dtype.kind == "f" else y


def _num_samples(pred: np.ndarray) -> int:
    return int(pred.shape[0]) if pred.ndim >= 2 else 1


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Max-subtracted softmax along ``axis``."""
    z = logits - np.max(logits, axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= np.sum(z, axis=axis, keepdims=True)
    return z


# ------------------------------------------------------------------------ Loss objects
class Loss:
    """A named loss: ``loss(y_true, y_pred) -> float`` and ``loss.gradient(...) -> array``."""

    name: str = ""

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        raise NotImplementedError

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """dL/dy_pred, shaped like ``y_pred``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MeanSquaredError(Loss):
    name = "mse"

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        return mse(y_true, y_pred)

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return mse_prime(y_true, y_pred)


class BinaryCrossEntropy(Loss):
    name = "binary_crossentropy"

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        return binary_cross_entropy(y_true, y_pred)

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return binary_cross_entropy_prime(y_true, y_pred)


class CategoricalCrossEntropy(Loss):
    """-sum(y log p) averaged over samples; ``y_pred`` holds probabilities (after Softmax)."""

    name = "categorical_crossentropy"

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        p = _class_view(np.asarray(y_pred))
        labels = _class_labels(y_true, p)
        if labels is not None:  # only the true class's term is non-zero
            picked = p.reshape(-1, p.shape[-1])[np.arange(labels.size), labels]
            return float(-np.sum(np.log(_clip(picked))) / _num_samples(p))
        y = _targets_like(y_true, p)
        return float(-np.sum(y * np.log(_clip(p))) / _num_samples(p))

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        p = _class_view(np.asarray(y_pred))
        y = _targets_like(y_true, p)
        return (-y / _clip(p) / _num_samples(p)).reshape(np.shape(y_pred))


class SoftmaxCrossEntropy(Loss):
    """Softmax and cross-entropy fused: ``y_pred`` holds logits; gradient = (softmax - y) / N.

    Models ending in a Softmax layer trained with ``categorical_crossentropy`` use this
    gradient for the Softmax input automatically (stable and cheaper).
    """

    name = "softmax_crossentropy"

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        z = _class_view(np.asarray(y_pred))
        y = _targets_like(y_true, z)
        shifted = z - np.max(z, axis=-1, keepdims=True)
        log_p = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
        return float(-np.sum(y * log_p) / _num_samples(z))

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        z = _class_view(np.asarray(y_pred))
        return self.gradient_from_probs(y_true, softmax(z)).reshape(np.shape(y_pred))

    @staticmethod
    def gradient_from_probs(y_true: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """(p - y) / N for probabilities ``p`` (class axis last)."""
        labels = _class_labels(y_true, probs)
        if labels is None:
            return (probs - _targets_like(y_true, probs)) / _num_samples(probs)
        grad = np.array(probs, copy=True)  # the same values as (p - one_hot) / N
        grad.reshape(-1, probs.shape[-1])[np.arange(labels.size), labels] -= 1
        grad /= _num_samples(probs)
        return grad


def value_and_softmax_gradient(y_true: Any, probs: np.ndarray) -> tuple[float, np.ndarray]:
    """The categorical cross-entropy of probabilities ``probs`` (N, K) and the gradient
    (p - y) / N for the input of the Softmax that made them, as ``CategoricalCrossEntropy()``
    and ``SoftmaxCrossEntropy.gradient_from_probs`` give them, bit for bit. Class labels are
    checked and looked up once for both (a training step's serial part, on the critical
    path of both cores). Labels also fit the tutorial's column outputs (N, K, 1) here, which
    ``gradient_from_probs`` refuses."""
    p = _class_view(np.asarray(probs))
    labels = _class_labels(y_true, p) if p.ndim == 2 else None
    if labels is None:
        value = CategoricalCrossEntropy()(y_true, probs)
        return value, SoftmaxCrossEntropy.gradient_from_probs(y_true, probs).reshape(probs.shape)
    rows = np.arange(labels.size)
    value = float(-np.sum(np.log(_clip(p[rows, labels]))) / _num_samples(p))
    grad = np.array(p, copy=True)
    grad[rows, labels] -= 1
    grad /= _num_samples(p)
    return value, grad.reshape(probs.shape)


LOSSES: dict[str, type[Loss]] = {
    "mse": MeanSquaredError,
    "binary_crossentropy": BinaryCrossEntropy,
    "categorical_crossentropy": CategoricalCrossEntropy,
    "softmax_crossentropy": SoftmaxCrossEntropy,
}
ALIASES = {
    "mean_squared_error": "mse",
    "bce": "binary_crossentropy",
    "binary_cross_entropy": "binary_crossentropy",
    "cce": "categorical_crossentropy",
    "crossentropy": "categorical_crossentropy",
    "cross_entropy": "categorical_crossentropy",
    "categorical_cross_entropy": "categorical_crossentropy",
    "softmax_cross_entropy": "softmax_crossentropy",
}


def get_loss(loss: str | Loss | Any) -> Loss:
    """A ``Loss`` from a name (``"mse"``, ``"categorical_crossentropy"``, ...) or a Loss."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, type) and issubclass(loss, Loss):
        return loss()
    if isinstance(loss, str):
        key = ALIASES.get(loss.lower(), loss.lower())
        if key in LOSSES:
            return LOSSES[key]()
    raise ConfigError(f"unknown loss {loss!r}: use one of {', '.join(LOSSES)}")


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float | None:
    """Fraction of samples whose predicted class is right, or None for non-class targets.

    One output per sample is read as a binary probability (threshold 0.5).
    """
    p = _class_view(np.asarray(y_pred))
    y = np.asarray(y_true)
    if y.dtype.kind in "iu" and y.ndim == p.ndim - 1:
        # count_nonzero: np.mean's Python-level wrapper costs more than the work at batch 64
        return float(np.count_nonzero(np.argmax(p, axis=-1) == y) / y.size) if y.size else None
    y = _class_view(y)
    if y.shape != p.shape or p.ndim == 0:
        return None
    if p.ndim == 1 or p.shape[-1] == 1:
        return float(np.mean((p >= 0.5) == (y >= 0.5)))
    return float(np.mean(np.argmax(p, axis=-1) == np.argmax(y, axis=-1)))


def default_loss(model: Any) -> str:
    """The loss ``fit`` and ``nnf train`` use when none is given, from the model's last layer.

    The last layer's ``default_loss`` class attribute decides (Softmax declares
    ``categorical_crossentropy``, Sigmoid ``binary_crossentropy``); binary cross-entropy
    applies to a single output only. Everything else gets ``mse``.
    """
    layers = list(getattr(model, "layers", ()))
    declared = getattr(type(layers[-1]), "default_loss", None) if layers else None
    if declared is None:
        return "mse"
    if get_loss(declared).name == "binary_crossentropy":
        shape = getattr(model, "output_shape", None) or getattr(layers[-1], "out_shape", None)
        if shape is None or int(np.prod(shape)) != 1:
            return "mse"
    return str(declared)
