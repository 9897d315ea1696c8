"""Reshape (the tutorial's) and Flatten."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import check_gradients
from nnf.errors import ShapeError
from nnf.layers import Flatten, Reshape


def test_tutorial_reshape_per_sample_and_batch() -> None:
    layer = Reshape((5, 26, 26), (5 * 26 * 26, 1))
    assert layer.built and layer.out_shape == (3380, 1)
    x = np.random.default_rng(0).standard_normal((5, 26, 26))
    y = layer.forward(x)
    np.testing.assert_array_equal(y, np.reshape(x, (3380, 1)))  # the tutorial's forward
    g = np.arange(3380.0).reshape(3380, 1)
    np.testing.assert_array_equal(layer.backward(g, 0.1), np.reshape(g, (5, 26, 26)))
    batch = np.stack([x, 2 * x])
    yb = layer.forward(batch)
    assert yb.shape == (2, 3380, 1)
    np.testing.assert_array_equal(yb[1], 2 * y)
    assert layer.backward(np.ones((2, 3380, 1))).shape == (2, 5, 26, 26)


def test_reshape_gradients() -> None:
    layer = Reshape((2, 3), (3, 2))
    check_gradients(layer, np.random.default_rng(1).standard_normal((4, 2, 3)))
    check_gradients(layer, np.random.default_rng(1).standard_normal((2, 3)))


def test_reshape_size_mismatch_and_wrong_input() -> None:
    with pytest.raises(ShapeError, match=r"\(2, 3\) \(6 values\) to \(4,\) \(4 values\)"):
        Reshape((2, 3), (4,))
    with pytest.raises(ShapeError, match="positive integers"):
        Reshape((2, -3), (6,))
    layer = Reshape((2, 3), (6,))
    with pytest.raises(
        ShapeError, match=r"Reshape expects.*\(2, 3\).*got an array shaped \(3, 2\)"
    ):
        layer.forward(np.ones((3, 2)))
    with pytest.raises(ShapeError, match=r"declared with input_shape=\(2, 3\)"):
        layer.build((3, 2))
    layer.forward(np.ones((4, 2, 3)))
    with pytest.raises(ShapeError, match="gradient shaped"):
        layer.backward(np.ones((4, 5)))


def test_reshape_accepts_ints_and_lists() -> None:
    layer = Reshape([2, 3], 6)
    assert layer.input_shape == (2, 3) and layer.output_shape == (6,)
    assert layer.get_config() == {"input_shape": [2, 3], "output_shape": [6]}


def test_flatten() -> None:
    layer = Flatten()
    x = np.random.default_rng(2).standard_normal((3, 2, 4, 5))
    np.testing.assert_array_equal(layer.forward(x), x.reshape(3, 40))  # unbuilt: any batch
    assert layer.build((2, 4, 5)) == (40,)
    assert layer.backward(np.ones((3, 40))).shape == (3, 2, 4, 5)
    check_gradients(layer, x)
    with pytest.raises(ShapeError, match=r"Flatten expects a batch \(N, 2, 4, 5\)"):
        layer.forward(np.ones((3, 4, 2, 5)))
    with pytest.raises(ShapeError, match="at least 2 axes"):
        Flatten().forward(np.ones(3))


def test_dtypes_pass_through() -> None:
    x = np.ones((2, 2, 3), dtype=np.float32)
    layer = Reshape((2, 3), (6,))
    assert layer.forward(x).dtype == np.float32
    assert layer.backward(np.ones((2, 6))).dtype == np.float32
    assert Flatten().forward(x).dtype == np.float32
