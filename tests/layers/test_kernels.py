"""The batched kernels against their readable references (``nnf_layers.kernels.reference``)."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import check_gradients
from nnf.layers import Convolutional, Dense, MaxPool2D
from nnf_layers.kernels import dense, reference
from nnf_layers.kernels import pooling as pool_kernels


@pytest.mark.parametrize(
    ("shape", "k", "depth", "stride", "padding"),
    [
        ((1, 28, 28), 3, 5, 1, "valid"),  # the tutorial's layer
        ((1, 12, 12), 5, 6, 1, "same"),  # LeNet-5 conv1 (batch-major layout)
        ((6, 9, 9), 5, 16, 1, "valid"),  # LeNet-5 conv2 (long layout, grid input gradient)
        ((2, 7, 6), 3, 3, 2, "same"),  # stride 2
        ((3, 8, 8), 4, 2, 1, "same"),  # even kernel: the odd pad goes bottom/right
    ],
)
@pytest.mark.parametrize("n", [1, 7, 20])
def test_convolution_matches_the_scipy_reference(shape, k, depth, stride, padding, n) -> None:
    layer = Convolutional(shape, k, depth, stride=stride, padding=padding, bias="channel")
    layer.cast("float64")
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, *shape))
    for training in (False, True):
        y = layer.forward(x, training=training)
        expected = reference.convolution(x, layer.kernels, stride, padding)
        expected += layer.biases[:, None, None]
        np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10)
        g = rng.standard_normal(y.shape)
        layer.zero_grad()
        dx = layer.backward(g)
        d_kernels, expected_dx = reference.convolution_gradients(
            x, layer.kernels, g, stride, padding
        )
        np.testing.assert_allclose(layer.grads["kernels"], d_kernels, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(dx, expected_dx, rtol=1e-9, atol=1e-10)
        layer.zero_grad()
        layer.backward_parameters(g)  # the first layer's path: the same kernel gradient
        np.testing.assert_allclose(layer.grads["kernels"], d_kernels, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize(("pool", "stride"), [(2, 2), (3, 2), (2, 3), (3, 3)])
def test_max_pooling_matches_the_loop_reference(pool: int, stride: int) -> None:
    rng = np.random.default_rng(pool * 10 + stride)
    x = rng.integers(-3, 3, (5, 2, 9, 8)).astype(np.float64)  # many ties
    y, argmax = pool_kernels.max_pool(x, pool, stride, with_argmax=True)
    expected, expected_arg = reference.max_pool(x, pool, stride)
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(argmax, expected_arg)
    g = rng.standard_normal(y.shape)
    dx = pool_kernels.max_pool_gradient(g, argmax, x.shape, pool, stride)
    np.testing.assert_allclose(dx, reference.max_pool_gradient(x, g, pool, stride), atol=1e-12)


def test_max_pool_layer_gradient_checks() -> None:
    layer = MaxPool2D(pool_size=2)
    layer.build((2, 6, 6), dtype="float64")
    x = np.random.default_rng(0).standard_normal((3, 2, 6, 6))
    check_gradients(layer, x, training=True)


@pytest.mark.parametrize("n", [1, 4])
def test_dense_kernels_match_the_tutorial_formulas(n: int) -> None:
    rng = np.random.default_rng(n)
    w, b = rng.standard_normal((3, 5)), rng.standard_normal(3)
    x, g = rng.standard_normal((n, 5)), rng.standard_normal((n, 3))
    np.testing.assert_allclose(dense.affine(x, w, b), reference.dense(x, w, b), rtol=1e-12)
    d_w, d_b, dx = reference.dense_gradients(x, w, g)
    np.testing.assert_allclose(dense.weight_product(g, x), d_w, rtol=1e-12)
    layer = Dense(5, 3)
    layer.cast("float64")
    layer.params["weights"][...], layer.params["bias"][...] = w, b
    layer.forward(x)
    np.testing.assert_allclose(layer.backward(g), dx, rtol=1e-12)
    np.testing.assert_allclose(layer.grads["weights"], d_w, rtol=1e-12)
    np.testing.assert_allclose(layer.grads["bias"], d_b, rtol=1e-12)
    check_gradients(layer, x)


def test_dense_layers_of_two_sizes_keep_their_own_weight_product_buffers() -> None:
    from nnf.workspace import scratch

    rng = np.random.default_rng(0)
    first, second = Dense(5, 3), Dense(3, 2)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    buffers = []
    # The first backward after zero_grad writes into grads directly (no buffer); rounds two
    # and three add through the buffers, and the third must reuse the second's arrays.
    for _ in range(3):
        y = first.forward(x)
        second.backward(np.ones((4, 2), np.float32) + 0 * second.forward(y))
        first.backward(np.ones((4, 3), np.float32))
        shapes = {(3, 5), (2, 3)}  # the two layers' weight shapes (other tests leave others)
        kept = scratch.arrays.items()
        buffers.append([id(a) for k, a in kept if "dense" in str(k) and a.shape in shapes])
    assert len(buffers[1]) == 2 and buffers[1] == buffers[2]


@pytest.mark.parametrize("rows", [3, dense.FEW_ROWS + 5])
def test_dense_backward_writes_then_adds_the_weight_gradient(rows: int) -> None:
    """Right after zero_grad, backward writes G^T X into grads; later calls add to it; a
    product of few rows (computed transposed) equals the tutorial's formula too."""
    rng = np.random.default_rng(rows)
    layer = Dense(5, 3)
    layer.cast("float64")
    x, g = rng.standard_normal((rows, 5)), rng.standard_normal((rows, 3))
    w, b = layer.params["weights"], layer.params["bias"]
    expected = reference.dense(x, w, b)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12)
    np.testing.assert_allclose(layer.forward(x, training=True), expected, rtol=1e-12)
    d_w = reference.dense_gradients(x, w, g)[0]
    layer.backward(g)
    np.testing.assert_allclose(layer.grads["weights"], d_w, rtol=1e-12)
    layer.backward(g)  # no zero_grad between: the gradients of two batches add up
    np.testing.assert_allclose(layer.grads["weights"], 2 * d_w, rtol=1e-12)
    layer.zero_grad()
    layer.backward(2 * g)
    np.testing.assert_allclose(layer.grads["weights"], 2 * d_w, rtol=1e-12)
    check_gradients(layer, x, training=True)  # training's order of the product, vs differences
