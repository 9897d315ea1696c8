"""MaxPool2D: against a loop reference, argmax routing (ties to the first), gradients."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import check_gradients
from nnf.errors import ConfigError, ShapeError
from nnf.layers import MaxPool2D


def reference(x: np.ndarray, p: int, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Loops: the max of each window and the gradient of sum(out * g) (first argmax)."""
    n, c, h, w = x.shape
    oh, ow = (h - p) // s + 1, (w - p) // s + 1
    out = np.empty((n, c, oh, ow))
    where = np.empty((n, c, oh, ow, 2), dtype=int)
    for i in np.ndindex(n, c, oh, ow):
        a, b = i[2] * s, i[3] * s
        window = x[i[0], i[1], a : a + p, b : b + p]
        r, q = np.unravel_index(np.argmax(window), window.shape)  # first max, row-major
        out[i], where[i] = window[r, q], (a + r, b + q)
    return out, where


def routed(x_shape, where: np.ndarray, g: np.ndarray) -> np.ndarray:
    dx = np.zeros(x_shape)
    for i in np.ndindex(g.shape):
        dx[i[0], i[1], where[i][0], where[i][1]] += g[i]
    return dx


CASES = [
    (2, None, (4, 6)),
    (2, None, (5, 7)),
    (3, 2, (7, 6)),
    (2, 1, (4, 5)),
    (3, 3, (8, 9)),
    (2, 3, (7, 7)),
]


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize(("p", "s", "hw"), CASES, ids=str)
def test_values_routing_and_gradients(p, s, hw, training: bool) -> None:
    # training=False leaves the argmax for backward to work out
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, *hw))
    layer = MaxPool2D(p, s)
    out = layer.forward(x, training=training)
    ref, where = reference(x, p, s or p)
    np.testing.assert_array_equal(out, ref)
    g = rng.standard_normal(out.shape)
    np.testing.assert_allclose(layer.backward(g), routed(x.shape, where, g), rtol=1e-15)
    check_gradients(MaxPool2D(p, s), x, training=training)


def test_ties_route_to_the_first_maximum() -> None:
    x = np.zeros((1, 1, 4, 4))  # e.g. after a ReLU: every window is a tie
    x[0, 0, 3, 3] = 1.0
    for training in (False, True):
        layer = MaxPool2D()
        out = layer.forward(x, training=training)
        np.testing.assert_array_equal(out, [[[[0, 0], [0, 1]]]])
        dx = layer.backward(np.ones_like(out))
        expected = np.zeros((4, 4))
        expected[0, 0] = expected[0, 2] = expected[2, 0] = expected[3, 3] = 1
        np.testing.assert_array_equal(dx[0, 0], expected)
    # overlapping windows accumulate on a shared maximum
    layer = MaxPool2D(2, 1)
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0
    layer.forward(x)
    assert layer.backward(np.ones((1, 1, 2, 2)))[0, 0, 1, 1] == 4


def test_per_sample_and_built_shapes() -> None:
    layer = MaxPool2D()
    assert layer.build((3, 7, 6)) == (3, 3, 3)
    x = np.random.default_rng(1).standard_normal((2, 3, 7, 6))
    batch = layer.forward(x)
    one = layer.forward(x[1])
    np.testing.assert_array_equal(one, batch[1])
    assert layer.backward(np.ones((3, 3, 3))).shape == (3, 7, 6)
    check_gradients(MaxPool2D(), x[0])
    with pytest.raises(ShapeError, match=r"MaxPool2D expects.*\(3, 7, 6\).*\(2, 3, 6, 7\)"):
        layer.forward(np.ones((2, 3, 6, 7)))
    with pytest.raises(ShapeError, match=r"\(N, C, H, W\)"):
        MaxPool2D().forward(np.ones((4, 4)))
    with pytest.raises(ShapeError, match="does not fit"):
        MaxPool2D(3).build((1, 2, 5))
    with pytest.raises(ConfigError, match="pool_size"):
        MaxPool2D(0)
    with pytest.raises(ConfigError, match="stride"):
        MaxPool2D(2, -1)


def test_float32_stays_float32() -> None:
    layer = MaxPool2D()
    y = layer.forward(np.ones((2, 1, 4, 4), dtype=np.float32))
    assert y.dtype == np.float32 and layer.backward(np.ones(y.shape)).dtype == np.float32


@pytest.mark.parametrize("hw", [(8, 8), (7, 9)])
def test_2x2_path_routes_ties_like_the_reference(hw) -> None:
    # ReLU-like inputs rounded to one decimal: many windows hold equal maxima
    rng = np.random.default_rng(4)
    x = np.round(np.maximum(rng.standard_normal((5, 3, *hw)), 0), 1)
    g = rng.standard_normal((5, 3, hw[0] // 2, hw[1] // 2))
    ref, where = reference(x, 2, 2)
    for training in (True, False):
        layer = MaxPool2D(2)
        np.testing.assert_array_equal(layer.forward(x, training=training), ref)
        np.testing.assert_array_equal(layer.backward(g), routed(x.shape, where, g))


@pytest.mark.parametrize("n", [1, 5])
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize(("p", "s", "hw"), CASES, ids=str)
def test_sub_blocks_of_a_few_samples_match_the_reference(
    monkeypatch: pytest.MonkeyPatch, n: int, training: bool, p, s, hw
) -> None:
    # CACHE_BYTES of two samples: 5 samples go in sub-blocks 0-3, 3-5 (round(5/2) even parts),
    # in forward (both the argmax path and inference's separable maxima) and backward; rounded
    # inputs tie often
    from nnf_layers.kernels import pooling as kernels

    rng = np.random.default_rng(n * 7 + p)
    x = np.round(rng.standard_normal((n, 3, *hw)), 1)
    monkeypatch.setattr(kernels, "CACHE_BYTES", 2 * x[0].nbytes)
    layer = MaxPool2D(p, s)
    out = layer.forward(x, training=training)
    ref, where = reference(x, p, s or p)
    np.testing.assert_array_equal(out, ref)
    g = rng.standard_normal(out.shape)
    dx = layer.backward(g)  # overlapping windows add in another order than the loop
    np.testing.assert_allclose(dx, routed(x.shape, where, g), rtol=1e-14, atol=1e-15)
    check_gradients(MaxPool2D(p, s), rng.standard_normal((n, 2, *hw)), training=training)
