"""Losses: the tutorial's formulas, safety at 0 and 1, and gradients against central differences."""

from __future__ import annotations

import numpy as np
import pytest
from nnf import losses
from nnf.errors import ConfigError, ShapeError


def numerical_gradient(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        up = f(x)
        x[i] = old - eps
        down = f(x)
        x[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


RNG = np.random.default_rng(0)
SHAPES = [(3, 4), (2, 5, 1), (4, 1), (6,)]


def probabilities(shape):
    return RNG.uniform(0.05, 0.95, size=shape)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ["mse", "binary_crossentropy"])
def test_elementwise_losses_gradients(name, shape):
    loss = losses.get_loss(name)
    y = RNG.integers(0, 2, size=shape).astype(np.float64)
    p = probabilities(shape)
    assert rel_error(loss.gradient(y, p), numerical_gradient(lambda q: loss(y, q), p)) < 1e-6


@pytest.mark.parametrize("shape", [(3, 4), (2, 5, 1), (4, 1)])
def test_categorical_crossentropy_gradients(shape):
    loss = losses.get_loss("categorical_crossentropy")
    k = shape[1] if len(shape) > 1 and shape[-1] != 1 else shape[-2] if len(shape) > 1 else 1
    labels = RNG.integers(0, k, size=shape[0] if len(shape) == 3 or shape[-1] != 1 else 1)
    y = np.zeros(shape)
    flat = y.reshape(-1, k) if len(shape) != 2 or shape[-1] != 1 else y.reshape(1, k)
    flat[np.arange(len(flat)), labels[: len(flat)]] = 1
    p = probabilities(shape)
    assert rel_error(loss.gradient(y, p), numerical_gradient(lambda q: loss(y, q), p)) < 1e-6


@pytest.mark.parametrize("shape", [(3, 4), (2, 5, 1)])
def test_softmax_crossentropy_gradient_and_value(shape):
    loss = losses.get_loss("softmax_crossentropy")
    z = RNG.normal(size=shape) * 3
    k = z.reshape(shape[0], -1).shape[1]
    y = np.eye(k)[RNG.integers(0, k, size=shape[0])].reshape(shape)
    assert rel_error(loss.gradient(y, z), numerical_gradient(lambda q: loss(y, q), z)) < 1e-6
    # equals categorical cross-entropy of the softmax probabilities
    p = losses.softmax(z.reshape(shape[0], k)).reshape(shape)
    assert loss(y, z) == pytest.approx(losses.get_loss("cce")(y, p), rel=1e-10)


def test_class_indices_equal_one_hot_targets():
    z = RNG.normal(size=(5, 3))
    idx = np.array([0, 2, 1, 1, 0])
    one_hot = np.eye(3)[idx]
    for name in ["categorical_crossentropy", "softmax_crossentropy"]:
        loss = losses.get_loss(name)
        q = losses.softmax(z) if name.startswith("cat") else z
        assert loss(idx, q) == pytest.approx(loss(one_hot, q))
        np.testing.assert_allclose(loss.gradient(idx, q), loss.gradient(one_hot, q))
    with pytest.raises(ShapeError, match="class index out of range"):
        losses.get_loss("cce")(np.array([0, 3, 1, 1, 0]), losses.softmax(z))


@pytest.mark.parametrize(
    ("labels", "pred_shape"), [((3, 2), (2, 3, 3)), ((4,), (5, 3)), ((6,), (2, 3, 3))]
)
def test_class_indices_must_match_the_prediction_rows(labels, pred_shape):
    # as many labels as rows is not enough: (3, 2) labels for (2, 3) rows would be misplaced
    p = np.full(pred_shape, 1 / pred_shape[-1])
    with pytest.raises(ShapeError, match="shaped"):
        losses.get_loss("cce")(np.zeros(labels, dtype=int), p)


def test_tutorial_formulas_match_the_tutorial_code():
    y = np.array([[1.0], [0.0]])
    p = np.array([[0.8], [0.3]])
    assert losses.mse(y, p) == pytest.approx(np.mean((y - p) ** 2))
    np.testing.assert_allclose(losses.mse_prime(y, p), 2 * (p - y) / 2)
    bce = np.mean(-y * np.log(p) - (1 - y) * np.log(1 - p))
    assert losses.binary_cross_entropy(y, p) == pytest.approx(bce)
    np.testing.assert_allclose(
        losses.binary_cross_entropy_prime(y, p), ((1 - y) / (1 - p) - y / p) / 2
    )


def test_cross_entropies_are_safe_at_zero_and_one():
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    p = np.array([[0.0, 1.0], [1.0, 0.0]])
    with np.errstate(divide="raise", invalid="raise", over="raise"):
        assert np.isfinite(losses.binary_cross_entropy(y, p))
        assert np.all(np.isfinite(losses.binary_cross_entropy_prime(y, p)))
        assert np.isfinite(losses.get_loss("cce")(y, p))
        assert np.isfinite(losses.get_loss("softmax_crossentropy")(y, np.array([[1e4, -1e4]] * 2)))


def test_float32_stays_float32():
    y = np.ones((4, 3), dtype=np.float32)
    p = np.full((4, 3), 0.5, dtype=np.float32)
    for name in losses.LOSSES:
        assert losses.get_loss(name).gradient(y, p).dtype == np.float32, name


def test_accuracy():
    p = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert losses.accuracy(np.array([[0, 1], [1, 0], [1, 0]]), p) == pytest.approx(2 / 3)
    assert losses.accuracy(np.array([1, 0, 0]), p) == pytest.approx(2 / 3)
    # plain floats: they go into the saved history and metrics.jsonl
    assert type(losses.accuracy(np.array([1, 0, 0]), p)) is float
    assert type(losses.get_loss("cce")(np.array([1, 0, 0]), p)) is float
    assert losses.accuracy(np.array([[1], [0]]), np.array([[0.7], [0.6]])) == 0.5
    assert losses.accuracy(np.ones((2, 3)), np.ones((2, 4))) is None


def test_unknown_loss_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="mse"):
        losses.get_loss("hinge")


def test_label_vectors_fit_single_output_predictions_without_broadcasting():
    y = np.array([1.0, 0.0, 1.0, 1.0])
    p = np.array([[0.9], [0.2], [0.7], [0.6]])
    for name in ["mse", "binary_crossentropy"]:
        loss = losses.get_loss(name)
        assert loss(y, p) == pytest.approx(loss(y[:, None], p))
        assert loss.gradient(y, p).shape == p.shape
    with pytest.raises(ShapeError, match=r"targets shaped \(3,\)"):
        losses.mse(np.zeros(3), p)


def test_integer_and_float64_targets_keep_float32_gradients():
    p = np.full((4, 3), 1 / 3, dtype=np.float32)
    idx = np.array([0, 1, 2, 0])
    one_hot = np.eye(3)[idx]  # float64
    for name in losses.LOSSES:
        loss = losses.get_loss(name)
        assert loss.gradient(one_hot, p).dtype == np.float32, name
    assert losses.get_loss("cce").gradient(idx, p).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("targets", ["labels", "one_hot"])
def test_value_and_softmax_gradient_equal_the_separate_calls_bit_for_bit(dtype, targets):
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(7, 4)) * 3
    probs = losses.softmax(logits).astype(dtype)
    probs[0] = [1, 0, 0, 0]  # clipped in the value
    labels = rng.integers(0, 4, 7)
    labels[0] = 1  # the true class has probability 0
    y = labels if targets == "labels" else np.eye(4)[labels]
    value, grad = losses.value_and_softmax_gradient(y, probs)
    assert value == losses.CategoricalCrossEntropy()(y, probs)
    expected = losses.SoftmaxCrossEntropy.gradient_from_probs(y, probs)
    assert grad.dtype == expected.dtype == dtype
    np.testing.assert_array_equal(grad, expected)
    assert np.isfinite(value) and value > 0


def test_value_and_softmax_gradient_check_labels_once_with_a_clear_error():
    probs = np.full((3, 4), 0.25)
    with pytest.raises(ShapeError, match=r"class index out of range: labels must lie in \[0, 3\]"):
        losses.value_and_softmax_gradient(np.array([0, 4, 1]), probs)
    with pytest.raises(ShapeError, match="do not match predictions"):
        losses.value_and_softmax_gradient(np.array([0, 1]), probs)
