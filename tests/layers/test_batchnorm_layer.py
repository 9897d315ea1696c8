"""BatchNorm: the textbook formulas, running statistics, gradients in both modes, and whole
batches under fit's batch split."""

from __future__ import annotations

import nnf
import numpy as np
import pytest
from gradcheck import check_gradients
from nnf.errors import ConfigError, ShapeError
from nnf.layers import BatchNorm, Dense, Softmax
from nnf.parallel.host import splittable

SHAPES = [(6, 4), (3, 2, 4, 5)]


def built(shape: tuple[int, ...], **options) -> BatchNorm:
    layer = BatchNorm(**options)
    layer.build(shape[1:], dtype="float64")
    rng = np.random.default_rng(1)
    layer.params["gamma"][...] = 1 + 0.5 * rng.standard_normal(shape[1])
    layer.params["beta"][...] = rng.standard_normal(shape[1])
    return layer


def textbook(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    """Per feature f: (x - mean) / sqrt(var + eps) over every axis but 1, by a loop over f."""
    y = np.empty_like(x)
    for f in range(x.shape[1]):
        v = x[:, f]
        y[:, f] = gamma[f] * (v - v.mean()) / np.sqrt(((v - v.mean()) ** 2).mean() + eps) + beta[f]
    return y


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_training_forward_and_running_statistics(shape) -> None:
    x = np.random.default_rng(0).standard_normal(shape) * 3 + 2
    layer = built(shape, momentum=0.8, epsilon=1e-3)
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y, textbook(x, layer.params["gamma"], layer.params["beta"], 1e-3))
    m = x.size // shape[1]
    per_feature = np.moveaxis(x, 1, 0).reshape(shape[1], -1)
    np.testing.assert_allclose(layer.state["running_mean"], 0.2 * per_feature.mean(axis=1))
    unbiased = per_feature.var(axis=1) * m / (m - 1)  # PyTorch's running variance
    np.testing.assert_allclose(layer.state["running_var"], 0.8 + 0.2 * unbiased)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_inference_uses_the_running_statistics(shape) -> None:
    x = np.random.default_rng(0).standard_normal(shape)
    layer = built(shape)
    layer.state["running_mean"][...] = np.arange(shape[1])
    layer.state["running_var"][...] = 1 + np.arange(shape[1])
    before = {k: v.copy() for k, v in layer.state.items()}
    y = layer.forward(x, training=False)
    b = (1, -1) + (1,) * (len(shape) - 2)
    mean, var = before["running_mean"].reshape(b), before["running_var"].reshape(b)
    gamma, beta = layer.params["gamma"].reshape(b), layer.params["beta"].reshape(b)
    np.testing.assert_allclose(y, gamma * (x - mean) / np.sqrt(var + 1e-5) + beta)
    for k in before:
        np.testing.assert_array_equal(layer.state[k], before[k])  # inference changes nothing
    np.testing.assert_array_equal(layer.forward(x[:1]), y[:1])  # each sample on its own


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_gradients_match_central_differences(shape, training: bool) -> None:
    x = np.random.default_rng(2).standard_normal(shape)
    layer = built(shape)
    layer.state["running_mean"][...] = 0.3
    layer.state["running_var"][...] = 2.0
    errors = check_gradients(layer, x, training=training)
    assert set(errors) == {"input", "gamma", "beta"} and max(errors.values()) < 1e-6


def test_float32_stays_float32() -> None:
    layer = BatchNorm()
    layer.build((3, 4, 4), dtype="float32")
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32)
    y = layer.forward(x, training=True)
    assert y.dtype == np.float32 and layer.backward(np.ones_like(y)).dtype == np.float32
    assert all(v.dtype == np.float32 for v in layer.state.values())


def test_options_are_checked() -> None:
    for bad in ({"momentum": 1.0}, {"momentum": -0.1}, {"epsilon": 0}, {"momentum": True}):
        with pytest.raises(ConfigError, match="BatchNorm"):
            BatchNorm(**bad)
    layer = BatchNorm()
    layer.build((4,))
    with pytest.raises(ShapeError, match="BatchNorm"):
        layer.forward(np.zeros((2, 5)))


def test_a_batch_is_never_split_so_statistics_are_the_whole_batchs() -> None:
    """fit splits batches over threads or processes only if every layer allows it; BatchNorm
    does not, so its running mean after one step is the whole batch's (not a part's)."""
    bn = BatchNorm(momentum=0.5)
    model = nnf.Sequential([bn, Dense(output_size=3), Softmax()], input_shape=(4,), dtype="float64")
    assert not splittable(model.layers)
    x = np.random.default_rng(0).standard_normal((64, 4)) + np.arange(64)[:, None] / 8
    y = np.arange(64) % 3
    model.fit(
        x,
        y,
        epochs=1,
        batch_size=64,
        shuffle=False,
        seed=0,
        verbose=0,
        loss="categorical_crossentropy",
    )
    np.testing.assert_allclose(bn.state["running_mean"], 0.5 * x.mean(axis=0), rtol=1e-12)
