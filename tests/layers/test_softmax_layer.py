"""Softmax: rows, the tutorial's columns, its backward formula, gradients, stability."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import check_gradients
from nnf.layers import Softmax


def reference(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize(
    ("shape", "axis"), [((5,), -1), ((3, 5), -1), ((5, 1), 0), ((3, 5, 1), 1)], ids=str
)
def test_values_and_gradients(shape, axis) -> None:
    x = np.random.default_rng(0).standard_normal(shape)
    y = Softmax().forward(x)
    np.testing.assert_allclose(y, reference(x, axis), rtol=1e-13)
    np.testing.assert_allclose(y.sum(axis=axis), 1.0, rtol=1e-13)
    check_gradients(Softmax(), x)


def test_backward_equals_the_tutorial_formula_for_a_column() -> None:
    rng = np.random.default_rng(1)
    n = 6
    x, grad = rng.standard_normal((n, 1)), rng.standard_normal((n, 1))
    layer = Softmax()
    out = layer.forward(x)
    tutorial = np.dot((np.identity(n) - out.T) * out, grad)
    np.testing.assert_allclose(layer.backward(grad, 0.1), tutorial, rtol=1e-12, atol=1e-15)
    # and the tutorial's "original formula"
    tmp = np.tile(out, n)
    np.testing.assert_allclose(
        layer.backward(grad), np.dot(tmp * (np.identity(n) - np.transpose(tmp)), grad), rtol=1e-12
    )


def test_batched_backward_formula() -> None:
    rng = np.random.default_rng(2)
    x, g = rng.standard_normal((4, 7)), rng.standard_normal((4, 7))
    layer = Softmax()
    y = layer.forward(x)
    np.testing.assert_allclose(
        layer.backward(g), y * (g - np.sum(g * y, axis=-1, keepdims=True)), rtol=1e-13
    )
    for i in range(4):  # each row is the tutorial's column
        jac = np.diag(y[i]) - np.outer(y[i], y[i])
        np.testing.assert_allclose(layer.backward(g)[i], jac @ g[i], rtol=1e-12, atol=1e-15)


def test_large_logits_do_not_overflow() -> None:
    x = np.array([[1000.0, 1001.0, -1000.0], [-5e4, -5e4, -5e4]], dtype=np.float32)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        y = Softmax().forward(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y[1], 1 / 3, rtol=1e-6)
    np.testing.assert_allclose(y[0, :2], [1 / (1 + np.e), np.e / (1 + np.e)], rtol=1e-6)


def test_built_single_class_rows_stay_rows() -> None:
    layer = Softmax()
    layer.build((1,))
    np.testing.assert_array_equal(layer.forward(np.array([[3.0], [5.0]])), [[1.0], [1.0]])
    columns = Softmax()
    columns.build((2, 1))
    np.testing.assert_allclose(columns.forward(np.zeros((3, 2, 1))), 0.5)


def test_float32_stays_float32() -> None:
    layer = Softmax()
    y = layer.forward(np.ones((2, 3), dtype=np.float32))
    assert y.dtype == np.float32 and layer.backward(np.ones((2, 3))).dtype == np.float32
