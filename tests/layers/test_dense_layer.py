"""Dense: tutorial constructors and column shapes, batched rows, gradients, SGD step."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import check_gradients
from nnf.errors import ConfigError, NotBuiltError, ShapeError
from nnf.layers import Dense


def dense64(n: int, m: int, shape: tuple[int, ...] | None = None, **kw) -> Dense:
    layer = Dense(output_size=m, **kw)
    layer.build(shape or (n,), rng=np.random.default_rng(1), dtype="float64")
    layer.params["bias"][:] = np.random.default_rng(2).standard_normal(m)
    return layer


def test_positional_tutorial_form_builds_at_once() -> None:
    layer = Dense(784, 100)
    assert layer.built and layer.in_shape == (784,) and layer.out_shape == (100,)
    assert layer.weights.shape == (100, 784) and layer.bias.shape == (100,)
    assert layer.weights.dtype == np.float32
    assert layer.params["weights"] is layer.weights


def test_keyword_form_infers_input_size_at_build() -> None:
    layer = Dense(output_size=10)
    assert not layer.built
    with pytest.raises(NotBuiltError):
        layer.forward(np.ones((2, 5)))
    assert layer.build((5,)) == (10,)
    assert layer.weights.shape == (10, 5)
    column = Dense(output_size=10)
    assert column.build((5, 1)) == (10, 1)  # the tutorial's column samples stay columns


def test_missing_output_size_and_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="output_size"):
        Dense(100)
    with pytest.raises(ConfigError, match="init"):
        Dense(3, 2, init="uniform")
    with pytest.raises(ConfigError, match="positive integer"):
        Dense(3, 0)
    with pytest.raises(ConfigError, match="positive integer"):
        Dense(3, 2.5)


def test_build_rejects_wrong_input_shapes() -> None:
    with pytest.raises(ShapeError, match="input_size=4"):
        Dense(4, 2).build((5,))
    with pytest.raises(ShapeError, match="Flatten"):
        Dense(output_size=2).build((3, 4))


def test_forward_forms_match_w_x_plus_b() -> None:
    layer = dense64(4, 3)
    w, b = layer.weights, layer.bias
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((5, 4))
    np.testing.assert_allclose(layer.forward(rows), rows @ w.T + b, rtol=1e-12)
    np.testing.assert_allclose(layer.forward(rows[0]), w @ rows[0] + b, rtol=1e-12)
    column = rows[0].reshape(4, 1)
    out = layer.forward(column)
    assert out.shape == (3, 1)
    np.testing.assert_allclose(out, np.dot(w, column) + b[:, None], rtol=1e-12)  # tutorial
    columns = rows.reshape(5, 4, 1)
    out = layer.forward(columns)
    assert out.shape == (5, 3, 1)
    np.testing.assert_allclose(out[:, :, 0], rows @ w.T + b, rtol=1e-12)


@pytest.mark.parametrize(
    "x_shape", [(4,), (5, 4), (4, 1), (3, 4, 1)], ids=["row", "rows", "column", "columns"]
)
def test_gradients_for_every_input_form(x_shape: tuple[int, ...]) -> None:
    layer = dense64(4, 3)
    x = np.random.default_rng(3).standard_normal(x_shape)
    check_gradients(layer, x)


@pytest.mark.parametrize("init", ["glorot", "he", "normal"])
def test_gradients_for_every_init(init: str) -> None:
    layer = dense64(6, 2, init=init)
    check_gradients(layer, np.random.default_rng(4).standard_normal((3, 6)))


def test_input_size_one_follows_the_built_form() -> None:
    rows = dense64(1, 3)
    assert rows.forward(np.ones((1, 1))).shape == (1, 3)
    columns = dense64(1, 3, shape=(1, 1))
    assert columns.forward(np.ones((1, 1))).shape == (3, 1)


def test_tutorial_backward_with_learning_rate_matches_tutorial_formulas() -> None:
    layer = dense64(4, 3)
    w0, b0 = layer.weights.copy(), layer.bias.copy()
    rng = np.random.default_rng(5)
    x, g = rng.standard_normal((4, 1)), rng.standard_normal((3, 1))
    layer.forward(x)
    dx = layer.backward(g, 0.1)
    # the tutorial: weights_gradient = g x^T, input_gradient = W^T g (before the update)
    np.testing.assert_allclose(dx, np.dot(w0.T, g), rtol=1e-12)
    np.testing.assert_allclose(layer.weights, w0 - 0.1 * np.dot(g, x.T), rtol=1e-12)
    np.testing.assert_allclose(layer.bias, b0 - 0.1 * g[:, 0], rtol=1e-12)
    assert not layer.grads["weights"].any() and not layer.grads["bias"].any()


@pytest.mark.parametrize("x_shape", [(4, 1), (4,), (6, 4), (6, 4, 1)])
def test_sgd_step_equals_backward_then_update(x_shape: tuple[int, ...]) -> None:
    fused, plain = dense64(4, 3), dense64(4, 3)
    rng = np.random.default_rng(6)
    x = rng.standard_normal(x_shape)
    g = rng.standard_normal(fused.forward(x).shape)
    fused.backward(g)  # stale gradients must not leak into the step
    plain.forward(x)
    plain.backward(g)
    plain.zero_grad()
    dx_plain = plain.backward(g)
    expected = {k: p - 0.05 * plain.grads[k] for k, p in plain.params.items()}
    dx_fused = fused.backward(g, learning_rate=0.05)
    np.testing.assert_allclose(dx_fused, dx_plain, rtol=1e-12)
    for k in expected:
        np.testing.assert_allclose(fused.params[k], expected[k], rtol=1e-12, atol=1e-15)
        assert not fused.grads[k].any()
    fused.backward(g, learning_rate=0.05)  # a second step starts from the updated weights
    np.testing.assert_allclose(
        fused.weights, expected["weights"] - 0.05 * plain.grads["weights"], rtol=1e-12
    )


def test_backward_accumulates_into_grads() -> None:
    layer = dense64(4, 3)
    x = np.random.default_rng(7).standard_normal((2, 4))
    g = np.ones((2, 3))
    layer.forward(x)
    layer.backward(g)
    once = {k: v.copy() for k, v in layer.grads.items()}
    layer.backward(g)
    for k in once:
        np.testing.assert_allclose(layer.grads[k], 2 * once[k])
    np.testing.assert_allclose(once["weights"], g.T @ x)
    np.testing.assert_allclose(once["bias"], g.sum(0))


def test_float32_stays_float32_even_with_float64_inputs_and_gradients() -> None:
    layer = Dense(5, 3)
    for x in (np.ones((2, 5)), np.ones((5, 1)), np.ones(5, dtype=np.int64)):
        y = layer.forward(x)
        assert y.dtype == np.float32
        assert layer.backward(np.ones(y.shape)).dtype == np.float32
        assert layer.backward(np.ones(y.shape), 0.1).dtype == np.float32
    assert layer.weights.dtype == np.float32 and layer.grads["weights"].dtype == np.float32


def test_wrong_shapes_raise_shape_errors_naming_the_layer() -> None:
    layer = Dense(4, 3)
    with pytest.raises(ShapeError, match=r"Dense expects .*\(N, 4\).*got an array shaped \(2, 5\)"):
        layer.forward(np.ones((2, 5)))
    with pytest.raises(ShapeError, match=r"shaped \(3, 4, 2\)"):
        layer.forward(np.ones((3, 4, 2)))
    layer.forward(np.ones((2, 4)))
    with pytest.raises(ShapeError, match=r"gradient shaped \(2, 4\).*\(2, 3\)"):
        layer.backward(np.ones((2, 4)))
    layer.name = "dense_1"
    with pytest.raises(ShapeError, match=r"dense_1 \(Dense\)"):
        layer.forward(np.ones(7))


def test_init_options() -> None:
    rng = np.random.default_rng(0)
    glorot = Dense(output_size=200)
    glorot.build((300,), rng=rng)
    assert abs(glorot.weights.std() - np.sqrt(2 / 500)) < 0.005
    assert not glorot.bias.any()
    he = Dense(output_size=200, init="he")
    he.build((300,), rng=rng)
    assert abs(he.weights.std() - np.sqrt(2 / 300)) < 0.005
    normal = Dense(output_size=200, init="normal")
    normal.build((300,), rng=rng)
    assert abs(normal.weights.std() - 1) < 0.02 and abs(normal.bias.std() - 1) < 0.2


def test_legacy_seed_makes_tutorial_construction_reproducible() -> None:
    np.random.seed(3)
    a = Dense(3, 2).weights.copy()
    np.random.seed(3)
    np.testing.assert_array_equal(Dense(3, 2).weights, a)
