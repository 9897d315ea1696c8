"""AvgPool2D and GlobalAveragePooling2D against loops over windows, and their gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gradcheck import check_gradients
from nnf.errors import ConfigError, ShapeError
from nnf.layers import AvgPool2D, GlobalAveragePooling2D


def reference(x: np.ndarray, p: int, s: int, same: bool) -> np.ndarray:
    """Loops: the mean of each window's positions inside the image (padding not counted)."""
    n, c, h, w = x.shape
    if same:
        oh, ow = math.ceil(h / s), math.ceil(w / s)
        top = max((oh - 1) * s + p - h, 0) // 2
        left = max((ow - 1) * s + p - w, 0) // 2
    else:
        oh, ow, top, left = (h - p) // s + 1, (w - p) // s + 1, 0, 0
    out = np.empty((n, c, oh, ow))
    for a in range(oh):
        for b in range(ow):
            r0, c0 = a * s - top, b * s - left
            rows = slice(max(r0, 0), min(r0 + p, h))
            cols = slice(max(c0, 0), min(c0 + p, w))
            out[:, :, a, b] = x[:, :, rows, cols].mean(axis=(2, 3))
    return out


CASES = [
    (2, None, "valid", (4, 6)),
    (2, None, "valid", (5, 7)),
    (3, 2, "valid", (7, 6)),
    (2, 1, "valid", (4, 5)),
    (3, 1, "same", (5, 4)),
    (3, 2, "same", (7, 6)),
    (2, 2, "same", (5, 5)),
    (4, 3, "same", (8, 7)),
]


def built(p, s, padding, hw) -> AvgPool2D:
    layer = AvgPool2D(pool_size=p, stride=s, padding=padding)
    layer.build((3, *hw), dtype="float64")
    return layer


@pytest.mark.parametrize(("p", "s", "padding", "hw"), CASES, ids=str)
def test_values_and_gradients(p, s, padding, hw) -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, *hw))
    out = built(p, s, padding, hw).forward(x)
    np.testing.assert_allclose(out, reference(x, p, s or p, padding == "same"), rtol=1e-13)
    assert check_gradients(built(p, s, padding, hw), x)["input"] < 1e-6


def test_same_padding_keeps_ceil_of_size_over_stride() -> None:
    assert AvgPool2D(pool_size=3, stride=2, padding="same").build((1, 7, 8)) == (1, 4, 4)
    assert AvgPool2D(pool_size=2, padding="valid").build((1, 7, 8)) == (1, 3, 4)


def test_global_average_pooling() -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    layer = GlobalAveragePooling2D()
    assert layer.build((3, 4, 5), dtype="float64") == (3,)
    np.testing.assert_allclose(layer.forward(x), x.mean(axis=(2, 3)), rtol=1e-14)
    assert check_gradients(layer, x)["input"] < 1e-6


def test_bad_options_and_shapes() -> None:
    with pytest.raises(ConfigError, match="padding"):
        AvgPool2D(padding="full")
    with pytest.raises(ConfigError, match="pool_size"):
        AvgPool2D(pool_size=0)
    with pytest.raises(ShapeError, match="does not fit"):
        AvgPool2D(pool_size=5).build((1, 4, 4))
    with pytest.raises(ShapeError, match="channels, height, width"):
        GlobalAveragePooling2D().build((4,))
    layer = AvgPool2D()
    layer.build((1, 4, 4))
    with pytest.raises(ShapeError, match="AvgPool2D"):
        layer.forward(np.zeros((2, 1, 4, 5)))
