"""Dropout: identity at inference, inverted scaling while training, reproducible masks."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import check_gradients
from nnf.errors import ConfigError
from nnf.layers import Dropout


def test_inference_is_the_identity() -> None:
    x = np.random.default_rng(0).standard_normal((4, 5))
    layer = Dropout(0.5)
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(np.full((4, 5), 2.0)), np.full((4, 5), 2.0))
    check_gradients(Dropout(0.5), x)


@pytest.mark.parametrize("rate", [0.2, 0.5, 0.9])
def test_training_drops_about_rate_and_rescales(rate: float) -> None:
    layer = Dropout(rate)
    layer.rng = np.random.default_rng(1)
    x = np.ones((200, 500))
    y = layer.forward(x, training=True)
    kept = y != 0
    assert abs(kept.mean() - (1 - rate)) < 0.01
    np.testing.assert_allclose(y[kept], 1 / (1 - rate))
    g = np.random.default_rng(2).standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(g), np.where(kept, g / (1 - rate), 0))


def test_gradients_with_a_fixed_mask() -> None:
    layer = Dropout(0.4)
    x = np.random.default_rng(3).standard_normal((3, 4, 2))

    def same_mask() -> None:
        layer.rng = np.random.default_rng(7)

    check_gradients(layer, x, training=True, before_forward=same_mask)


def test_masks_follow_the_rng() -> None:
    a, b = Dropout(0.5), Dropout(0.5)
    a.rng, b.rng = np.random.default_rng(5), np.random.default_rng(5)
    x = np.ones((10, 10))
    np.testing.assert_array_equal(a.forward(x, training=True), b.forward(x, training=True))
    assert not np.array_equal(a.forward(x, training=True), a.forward(x, training=True))


def test_without_an_rng_one_is_seeded_from_numpy_global_state() -> None:
    np.random.seed(11)
    first = Dropout(0.5).forward(np.ones((8, 8)), training=True)
    np.random.seed(11)
    layer = Dropout(0.5)
    np.testing.assert_array_equal(layer.forward(np.ones((8, 8)), training=True), first)
    assert isinstance(layer.rng, np.random.Generator)


def test_rate_zero_and_dtypes_and_bad_rates() -> None:
    x = np.ones((3, 3), dtype=np.float32)
    layer = Dropout(0.0)
    np.testing.assert_array_equal(layer.forward(x, training=True), x)
    layer = Dropout(0.5)
    y = layer.forward(x, training=True)
    assert y.dtype == np.float32 and layer.backward(np.ones((3, 3))).dtype == np.float32
    for bad in (1.0, -0.1, "half", True):
        with pytest.raises(ConfigError, match="rate"):
            Dropout(bad)
