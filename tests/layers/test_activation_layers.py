"""Tanh, Sigmoid, ReLU, LeakyReLU: values, gradients, stability, dtypes."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import check_gradients
from nnf.errors import ConfigError, ShapeError
from nnf.layers import LeakyReLU, ReLU, Sigmoid, Tanh

REFERENCES = {
    Tanh: np.tanh,
    Sigmoid: lambda x: 1 / (1 + np.exp(-x)),
    ReLU: lambda x: np.maximum(x, 0),
    LeakyReLU: lambda x: np.where(x > 0, x, 0.01 * x),
}
SHAPES = [(7,), (3, 4), (4, 1), (2, 3, 4, 5)]


def away_from_zero(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Random values with |x| >= 0.05, so that ReLU's kink never lies within eps."""
    x = np.random.default_rng(seed).standard_normal(shape)
    return np.where(x >= 0, x + 0.05, x - 0.05)


@pytest.mark.parametrize("cls", list(REFERENCES), ids=lambda c: c.__name__)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_values_and_gradients(cls, shape) -> None:
    x = away_from_zero(shape)
    layer = cls()
    np.testing.assert_allclose(layer.forward(x), REFERENCES[cls](x), rtol=1e-14, atol=1e-15)
    check_gradients(cls(), x)


def test_leaky_relu_alpha() -> None:
    x = away_from_zero((3, 4))
    layer = LeakyReLU(alpha=0.3)
    np.testing.assert_allclose(layer.forward(x), np.where(x > 0, x, 0.3 * x))
    check_gradients(LeakyReLU(0.3), x)
    with pytest.raises(ConfigError, match="alpha"):
        LeakyReLU(alpha=-1)
    with pytest.raises(ConfigError, match="alpha"):
        LeakyReLU(alpha="big")


def test_tutorial_backward_formula() -> None:
    # the tutorial: np.multiply(output_gradient, activation_prime(input))
    x, g = away_from_zero((4, 1), 1), away_from_zero((4, 1), 2)
    tanh, sigmoid = Tanh(), Sigmoid()
    tanh.forward(x)
    np.testing.assert_allclose(tanh.backward(g, 0.1), g * (1 - np.tanh(x) ** 2), rtol=1e-12)
    sigmoid.forward(x)
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(sigmoid.backward(g, 0.1), g * s * (1 - s), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_tanh_are_stable_for_large_inputs(dtype) -> None:
    x = np.array([-1e4, -800.0, -100.0, -30.0, 0.0, 30.0, 100.0, 800.0, 1e4], dtype=dtype)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        sigmoid, tanh = Sigmoid(), Tanh()
        s, t = sigmoid.forward(x), tanh.forward(x)
        ds, dt = sigmoid.backward(np.ones_like(x)), tanh.backward(np.ones_like(x))
    assert np.all(np.isfinite(ds)) and np.all(np.isfinite(dt)) and ds[0] == 0 and dt[-1] == 0
    assert s.dtype == dtype and np.all(np.isfinite(s)) and np.all(np.isfinite(t))
    assert s[0] == 0 and s[-1] == 1 and s[4] == 0.5
    assert np.all(np.diff(s) >= 0)
    middle = np.linspace(-20, 20, 101).astype(dtype)
    ref = 1 / (1 + np.exp(-middle.astype(np.float64)))
    np.testing.assert_allclose(Sigmoid().forward(middle), ref, atol=2 * np.finfo(dtype).eps)


@pytest.mark.parametrize("cls", list(REFERENCES), ids=lambda c: c.__name__)
def test_float32_stays_float32(cls) -> None:
    layer = cls()
    y = layer.forward(np.ones((2, 3), dtype=np.float32))
    assert y.dtype == np.float32
    assert layer.backward(np.ones((2, 3))).dtype == np.float32  # float64 gradient cast
    assert cls().forward(np.ones((2, 3), dtype=np.int64)).dtype == np.float32


@pytest.mark.parametrize("cls", list(REFERENCES), ids=lambda c: c.__name__)
def test_gradient_shape_must_match(cls) -> None:
    layer = cls()
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"gradient shaped \(3,\).*\(2, 3\)"):
        layer.backward(np.ones(3))
