"""Convolutional: against scipy's correlate2d, for every stride/padding/bias option."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from gradcheck import check_gradients
from nnf.errors import ConfigError, NotBuiltError, ShapeError
from nnf.layers import Convolutional
from nnf_layers.kernels import convolution
from scipy import signal


def reference(x: np.ndarray, layer: Convolutional) -> np.ndarray:
    """Straightforward loops: pad, correlate2d per (output, input) channel, subsample."""
    k, s = layer.kernel_size, layer.stride
    _, _, h, w = x.shape
    if layer.padding == "same":
        pad_h = max((math.ceil(h / s) - 1) * s + k - h, 0)
        pad_w = max((math.ceil(w / s) - 1) * s + k - w, 0)
        # the extra zero of an odd total goes to the bottom/right
        widths = (
            (0, 0),
            (0, 0),
            (pad_h // 2, pad_h - pad_h // 2),
            (pad_w // 2, pad_w - pad_w // 2),
        )
        x = np.pad(x, widths)
    out = []
    for sample in x:
        maps = []
        for d in range(layer.depth):
            acc = sum(
                signal.correlate2d(sample[c], layer.kernels[d, c], "valid")
                for c in range(x.shape[1])
            )
            maps.append(acc[::s, ::s])
        out.append(np.stack(maps))
    bias = layer.biases if layer.bias == "position" else layer.biases[:, None, None]
    return np.stack(out) + bias


def conv64(shape, kernel_size, depth, **kw) -> Convolutional:
    layer = Convolutional(kernel_size=kernel_size, depth=depth, **kw)
    layer.build(shape, rng=np.random.default_rng(1), dtype="float64")
    rng = np.random.default_rng(2)
    layer.params["biases"][...] = rng.standard_normal(layer.biases.shape)
    return layer


OPTIONS = list(itertools.product([1, 2], ["valid", "same"], [2, 3], ["position", "channel"]))


@pytest.mark.parametrize(("stride", "padding", "k", "bias"), OPTIONS)
def test_forward_matches_correlate2d_and_gradients_check(stride, padding, k, bias) -> None:
    shape = (2, 7, 6)  # two channels, non-square
    layer = conv64(shape, k, 3, stride=stride, padding=padding, bias=bias)
    x = np.random.default_rng(3).standard_normal((2, *shape))
    y = layer.forward(x)
    ref = reference(x, layer)
    assert y.shape == ref.shape == (2, *layer.out_shape)
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
    check_gradients(layer, x)


@pytest.mark.parametrize(("k", "stride"), [(1, 1), (4, 1), (5, 3), (4, 2), (3, 3)])
def test_more_kernel_and_stride_combinations(k: int, stride: int) -> None:
    for padding in ("valid", "same"):
        layer = conv64((1, 8, 9), k, 2, stride=stride, padding=padding, bias="channel")
        x = np.random.default_rng(k).standard_normal((2, 1, 8, 9))
        np.testing.assert_allclose(layer.forward(x), reference(x, layer), rtol=1e-12, atol=1e-12)
        check_gradients(layer, x)


@pytest.mark.parametrize(
    ("h", "w", "k", "s"), [(7, 6, 3, 1), (7, 6, 2, 1), (8, 8, 4, 2), (9, 5, 3, 2)]
)
def test_same_padding_output_is_ceil_of_input_over_stride(h, w, k, s) -> None:
    layer = Convolutional((1, h, w), k, 1, stride=s, padding="same")
    assert layer.out_shape == (1, math.ceil(h / s), math.ceil(w / s))


def test_same_padding_with_odd_kernel_equals_scipy_same() -> None:
    layer = conv64((1, 6, 5), 3, 1, padding="same", bias="channel")
    layer.params["biases"][...] = 0
    x = np.random.default_rng(0).standard_normal((1, 1, 6, 5))
    expected = signal.correlate2d(x[0, 0], layer.kernels[0, 0], "same")
    np.testing.assert_allclose(layer.forward(x)[0, 0], expected, rtol=1e-12, atol=1e-12)


def test_even_kernel_same_padding_puts_the_extra_zero_bottom_right() -> None:
    layer = conv64((1, 3, 3), 2, 1, padding="same", bias="channel")
    layer.params["kernels"][...] = [[[[1.0, 0.0], [0.0, 0.0]]]]  # picks the window's top-left
    layer.params["biases"][...] = 0
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    np.testing.assert_array_equal(layer.forward(x), x)  # no padding before: top-left kept


def test_tutorial_form_per_sample_matches_the_tutorial_code() -> None:
    np.random.seed(0)
    layer = Convolutional((1, 28, 28), 3, 5)
    assert layer.built and layer.out_shape == (5, 26, 26)
    assert layer.kernels.shape == (5, 1, 3, 3) and layer.biases.shape == (5, 26, 26)
    layer.cast("float64")
    rng = np.random.default_rng(1)
    layer.params["biases"][...] = rng.standard_normal((5, 26, 26))
    x = rng.standard_normal((1, 28, 28))
    g = rng.standard_normal((5, 26, 26))
    kernels, biases = layer.kernels.copy(), layer.biases.copy()
    y = layer.forward(x)
    assert y.shape == (5, 26, 26)
    # The tutorial's forward and backward loops, verbatim in meaning.
    out = np.copy(biases)
    kernels_gradient = np.zeros(kernels.shape)
    input_gradient = np.zeros(x.shape)
    for i in range(5):
        out[i] += signal.correlate2d(x[0], kernels[i, 0], "valid")
        kernels_gradient[i, 0] = signal.correlate2d(x[0], g[i], "valid")
        input_gradient[0] += signal.convolve2d(g[i], kernels[i, 0], "full")
    np.testing.assert_allclose(y, out, rtol=1e-12, atol=1e-12)
    dx = layer.backward(g, 0.1)
    np.testing.assert_allclose(dx, input_gradient, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.kernels, kernels - 0.1 * kernels_gradient, rtol=1e-12)
    np.testing.assert_allclose(layer.biases, biases - 0.1 * g, rtol=1e-12)
    assert not any(v.any() for v in layer.grads.values())


def test_per_sample_and_batch_paths_agree_and_single_sample_gradients_check() -> None:
    layer = conv64((2, 5, 4), 3, 2, padding="same", stride=2)
    x = np.random.default_rng(5).standard_normal((3, 2, 5, 4))
    batch = layer.forward(x)
    for i in range(3):
        np.testing.assert_allclose(layer.forward(x[i]), batch[i], rtol=1e-12)
    check_gradients(layer, x[0])


@pytest.mark.parametrize("bias", ["position", "channel"])
def test_sgd_step_equals_backward_then_update(bias: str) -> None:
    fused, plain = conv64((2, 6, 5), 3, 2, bias=bias), conv64((2, 6, 5), 3, 2, bias=bias)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 2, 6, 5))
    g = rng.standard_normal(fused.forward(x).shape)
    plain.forward(x)
    dx_plain = plain.backward(g)
    expected = {k: p - 0.05 * plain.grads[k] for k, p in plain.params.items()}
    fused.grads["kernels"][...] = 3.0
    np.testing.assert_allclose(fused.backward(g, 0.05), dx_plain, rtol=1e-12)
    for k in expected:
        np.testing.assert_allclose(fused.params[k], expected[k], rtol=1e-12)
        assert not fused.grads[k].any()


def test_keyword_form_infers_the_input_shape() -> None:
    layer = Convolutional(kernel_size=3, depth=4, bias="channel", padding="same")
    assert not layer.built and layer.declared_input_shape() is None
    with pytest.raises(NotBuiltError):
        layer.forward(np.ones((1, 1, 5, 5)))
    assert layer.build((3, 10, 12)) == (4, 10, 12)
    assert layer.kernels.shape == (4, 3, 3, 3) and layer.biases.shape == (4,)


def test_bad_options_and_shapes() -> None:
    with pytest.raises(ConfigError, match="kernel_size and depth"):
        Convolutional((1, 5, 5))
    with pytest.raises(ConfigError, match="padding"):
        Convolutional((1, 5, 5), 3, 2, padding="full")
    with pytest.raises(ConfigError, match="bias"):
        Convolutional((1, 5, 5), 3, 2, bias="none")
    with pytest.raises(ConfigError, match="stride"):
        Convolutional((1, 5, 5), 3, 2, stride=0)
    with pytest.raises(ShapeError, match="does not fit"):
        Convolutional((1, 2, 5), 3, 2)
    with pytest.raises(ShapeError, match="channels, height, width"):
        Convolutional(kernel_size=3, depth=2).build((5, 5))
    with pytest.raises(ShapeError, match=r"declared with input_shape=\(1, 5, 5\)"):
        Convolutional((1, 5, 5), 3, 2).build((2, 5, 5))
    layer = Convolutional((1, 5, 5), 3, 2)
    with pytest.raises(ShapeError, match=r"Convolutional expects.*\(1, 5, 5\).*\(5, 5\)"):
        layer.forward(np.ones((5, 5)))
    with pytest.raises(ShapeError, match=r"got an array shaped \(2, 2, 5, 5\)"):
        layer.forward(np.ones((2, 2, 5, 5)))
    layer.forward(np.ones((2, 1, 5, 5)))
    with pytest.raises(ShapeError, match="gradient shaped"):
        layer.backward(np.ones((2, 3, 3)))


def test_float32_stays_float32() -> None:
    layer = Convolutional((2, 6, 6), 3, 4, padding="same", stride=2)
    for x in (np.ones((3, 2, 6, 6)), np.ones((2, 6, 6), dtype=np.float32)):
        y = layer.forward(x)
        assert y.dtype == np.float32
        assert layer.backward(np.ones(y.shape)).dtype == np.float32
        assert layer.backward(np.ones(y.shape), 0.1).dtype == np.float32
    assert all(p.dtype == np.float32 for p in layer.params.values())


@pytest.mark.parametrize("stride", [1, 2])
def test_reused_work_buffers_give_fresh_results_for_any_batch_size(stride: int) -> None:
    reused = conv64((2, 6, 7), 3, 3, stride=stride, padding="same")
    rng = np.random.default_rng(9)
    for n in (3, 1, 3, None, 2):
        fresh = conv64((2, 6, 7), 3, 3, stride=stride, padding="same")
        fresh.params["kernels"][...] = reused.kernels
        fresh.params["biases"][...] = reused.biases
        x = rng.standard_normal((2, 6, 7) if n is None else (n, 2, 6, 7))
        y = reused.forward(x)
        g = rng.standard_normal(y.shape)
        reused.zero_grad()
        dx = reused.backward(g)
        np.testing.assert_array_equal(y, fresh.forward(x))
        np.testing.assert_array_equal(dx, fresh.backward(g))
        for k in fresh.grads:
            np.testing.assert_array_equal(reused.grads[k], fresh.grads[k])
        assert not np.shares_memory(y, reused.forward(x))  # outputs are never reused


def test_init_options() -> None:
    rng = np.random.default_rng(0)
    layers = {}
    for init in ("glorot", "he", "normal"):
        layers[init] = Convolutional(kernel_size=5, depth=40, init=init)
        layers[init].build((8, 12, 12), rng=rng)
    fan_in, fan_out = 8 * 25, 40 * 25
    assert abs(layers["glorot"].kernels.std() - np.sqrt(2 / (fan_in + fan_out))) < 0.002
    assert abs(layers["he"].kernels.std() - np.sqrt(2 / fan_in)) < 0.005
    assert abs(layers["normal"].kernels.std() - 1) < 0.03
    assert not layers["glorot"].biases.any() and not layers["he"].biases.any()
    assert abs(layers["normal"].biases.std() - 1) < 0.1  # the tutorial's randn biases


def test_kernel_gradient_of_a_large_batch_matches_correlate2d() -> None:
    # enough columns (N*L > 4096) for the blocked kernel-gradient product
    layer = conv64((1, 20, 20), 3, 2, bias="channel")
    rng = np.random.default_rng(10)
    x = rng.standard_normal((16, 1, 20, 20))
    g = rng.standard_normal((16, 2, 18, 18))
    layer.forward(x)
    layer.backward(g)
    expected = np.array(
        [[sum(signal.correlate2d(x[n, 0], g[n, d], "valid") for n in range(16))] for d in range(2)]
    )
    np.testing.assert_allclose(layer.grads["kernels"], expected, rtol=1e-10)
    np.testing.assert_allclose(layer.grads["biases"], g.sum(axis=(0, 2, 3)), rtol=1e-12)


@pytest.mark.parametrize("batch_major", [True, False])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize(("stride", "padding"), [(1, "same"), (1, "valid"), (2, "same")])
def test_both_column_layouts_in_sub_batches_match_correlate2d_and_gradients_check(
    monkeypatch: pytest.MonkeyPatch, batch_major: bool, training: bool, stride: int, padding: str
) -> None:
    # 7 samples in sub-batches of 3 (a short last one); inference on more than one sub-batch
    # does not keep the columns, so backward must rebuild them
    monkeypatch.setattr(convolution, "SUB_BATCH", 3)
    layer = conv64((2, 7, 6), 3, 3, stride=stride, padding=padding, bias="channel")
    layer._plan.batch_major = batch_major
    x = np.random.default_rng(11).standard_normal((7, 2, 7, 6))
    y = layer.forward(x, training=training)
    np.testing.assert_allclose(y, reference(x, layer), rtol=1e-12, atol=1e-12)
    check_gradients(layer, x, training=training)


@pytest.mark.parametrize("training", [True, False])
def test_column_blocks_smaller_than_gradient_blocks_match_correlate2d_and_gradients_check(
    monkeypatch: pytest.MonkeyPatch, training: bool
) -> None:
    # batch-major columns in blocks of 2 samples (the cache budget) inside gradient blocks of
    # 5 (SUB_BATCH): 7 samples give column blocks 0-2, 2-4, 4-5 | 5-7
    monkeypatch.setattr(convolution, "SUB_BATCH", 5)
    layer = conv64((2, 7, 6), 3, 3, padding="same", bias="channel")
    assert layer._plan.batch_major
    geo = layer._plan.geo
    per_sample = geo.channels * geo.k**2 * geo.length * 8
    monkeypatch.setattr(convolution, "BLOCK_BYTES", 2 * per_sample + 1)
    assert layer._plan.block_size(7) == 2
    x = np.random.default_rng(12).standard_normal((7, 2, 7, 6))
    y = layer.forward(x, training=training)
    np.testing.assert_allclose(y, reference(x, layer), rtol=1e-12, atol=1e-12)
    check_gradients(layer, x, training=training)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize(("stride", "padding"), [(1, "same"), (1, "valid"), (2, "same")])
def test_long_layout_columns_bounded_in_bytes_match_correlate2d_and_gradients_check(
    monkeypatch: pytest.MonkeyPatch, training: bool, stride: int, padding: str
) -> None:
    # columns of at most 2 samples (COLUMN_BYTES) inside gradient blocks of 5 (SUB_BATCH):
    # 7 samples give column blocks 0-2, 2-4, 4-5 | 5-7, 7; stride 2's per-sample input
    # gradient columns come in the same parts
    monkeypatch.setattr(convolution, "SUB_BATCH", 5)
    layer = conv64((2, 7, 6), 3, 3, stride=stride, padding=padding, bias="channel")
    layer._plan.batch_major = False
    plan = layer._plan
    monkeypatch.setattr(convolution, "COLUMN_BYTES", 3 * plan.column_bytes() - 1)
    assert plan.column_capacity() == 2 and plan.block_size(7) == 2
    x = np.random.default_rng(15).standard_normal((7, 2, 7, 6))
    y = layer.forward(x, training=training)
    np.testing.assert_allclose(y, reference(x, layer), rtol=1e-12, atol=1e-12)
    check_gradients(layer, x, training=training)
    held = plan.workspace.arrays
    for name in ("cols", "grad_cols"):
        if name in held:
            assert held[name].nbytes <= 2 * plan.column_bytes()


def test_a_wide_layer_on_large_images_holds_columns_of_few_samples() -> None:
    # 64 channels, 3x3, 64x64 in float32: 9.7 MB of columns per sample, one sample at a time
    # (not SUB_BATCH = 16 samples, 155 MB); the forward of 3 samples stays correct
    layer = Convolutional(kernel_size=3, depth=4, padding="same", bias="channel")
    layer.build((64, 64, 64), np.random.default_rng(0), "float32")
    plan = layer._plan
    assert not plan.batch_major and plan.column_bytes() > convolution.COLUMN_BYTES
    assert plan.column_capacity() == 1 and plan.block_size(256) == 1
    x = np.random.default_rng(16).standard_normal((3, 64, 64, 64)).astype(np.float32)
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y, reference(x, layer), rtol=1e-4, atol=1e-4)
    layer.backward(np.ones_like(y))
    assert plan.workspace.arrays["cols"].nbytes == plan.column_bytes()


def built32(shape: tuple[int, int, int], kernel_size: int, depth: int, **kw) -> Convolutional:
    layer = Convolutional(kernel_size=kernel_size, depth=depth, bias="channel", **kw)
    layer.build(shape, np.random.default_rng(0), "float32")
    return layer


def test_inference_blocks_bring_enough_work_per_block_cache_sized_otherwise() -> None:
    # on a part of a batch split over threads, LeNet-5's layers (118k and 240k multiply-adds
    # a sample) predict in blocks larger than their training blocks, even ones; alone they
    # keep the cache-sized blocks; the CIFAR-sized net's conv2 (4.7M a sample) keeps them
    lenet1 = built32((1, 28, 28), 5, 6, padding="same")._plan
    lenet2 = built32((6, 14, 14), 5, 16)._plan
    cifar2 = built32((32, 16, 16), 3, 64, padding="same")._plan
    assert lenet1.block_size(128, training=True) <= convolution.SUB_BATCH
    assert lenet1.block_size(128, False, 6, shared=True) == convolution.INFER_MOST == 32
    assert lenet1.block_size(128, False, 6, shared=False) == convolution.SUB_BATCH
    assert lenet1.block_size(128, False, 6) == convolution.SUB_BATCH  # not in a part
    assert lenet2.block_size(128, training=True) == lenet2.column_capacity() == 12
    assert lenet2.block_size(128, False, 16, shared=False) == 12
    assert lenet2.infer_block(16) == 18 and lenet2.block_size(128, False, 16, True) == 16  # 8x16
    assert lenet1.block_size(40, False, 6, shared=True) == 20  # two even blocks, not 32 + 8
    assert cifar2.block_size(128, False, 64, shared=True) == cifar2.column_capacity() == 3
    assert cifar2.block_size(128, True) == 3


def test_inference_columns_stay_within_their_byte_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    # a layer of little work a sample on large images: blocks stop at INFER_COLUMN_BYTES
    monkeypatch.setattr(convolution.threads, "in_shared_part", lambda: True)
    layer = built32((1, 64, 64), 3, 1, padding="same")  # 37k multiply-adds, 151 KB columns
    plan = layer._plan
    budget = convolution.INFER_COLUMN_BYTES // plan.column_bytes()
    assert plan.infer_block(1) > budget > plan.column_capacity() // 2
    assert plan.block_size(256, False, 1, True) <= max(budget, plan.column_capacity())
    x = np.random.default_rng(3).standard_normal((40, 1, 64, 64)).astype(np.float32)
    np.testing.assert_allclose(layer.forward(x), reference(x, layer), rtol=1e-4, atol=1e-4)
    assert plan.workspace.arrays["infer_cols"].nbytes <= max(
        convolution.INFER_COLUMN_BYTES, plan.column_capacity() * plan.column_bytes()
    )


@pytest.mark.parametrize("batch_major", [True, False])
def test_inference_in_large_blocks_matches_correlate2d_and_reuses_its_buffers(
    monkeypatch: pytest.MonkeyPatch, batch_major: bool
) -> None:
    # in a part on threads: blocks of up to INFER_MOST samples, larger than training's
    # SUB_BATCH, with a short last block (70 = 3 x 24 - 2) and another batch size after it:
    # right results, and the inference buffers are made once, apart from training's
    monkeypatch.setattr(convolution.threads, "in_shared_part", lambda: True)
    layer = conv64((2, 9, 8), 3, 3, padding="same")
    layer._plan.batch_major = batch_major
    plan = layer._plan
    assert plan.block_size(70, False, 3, True) == 24 > convolution.SUB_BATCH
    rng = np.random.default_rng(17)
    for n in (70, 70, 9):
        x = rng.standard_normal((n, 2, 9, 8))
        np.testing.assert_allclose(layer.forward(x), reference(x, layer), rtol=1e-12, atol=1e-12)
        if n == 70:
            first = plan.workspace.arrays["infer_cols"]
    assert plan.workspace.arrays["infer_cols"] is first
    x = rng.standard_normal((20, 2, 9, 8))
    layer.forward(x, training=True)
    assert plan.workspace.arrays["infer_cols"] is first and "cols" in plan.workspace.arrays
    check_gradients(layer, x[:5], training=True)


@pytest.mark.parametrize("offsets", [1, 2, 4, 9])
def test_input_gradient_products_in_parts_of_kernel_offsets_gradients_check(
    monkeypatch: pytest.MonkeyPatch, offsets: int
) -> None:
    # the grid input gradient's products made a few kernel offsets at a time: 9 offsets (3x3)
    # in parts of 1, 2 (a short last part), 4 or all, in sub-batches of 3 (a short last one)
    monkeypatch.setattr(convolution, "SUB_BATCH", 3)
    layer = conv64((2, 7, 6), 3, 3, padding="same", bias="channel")
    layer._plan.batch_major = False
    geo = layer._plan.geo
    per_offset = geo.channels * 3 * geo.height * geo.width * 8
    monkeypatch.setattr(convolution, "GRID_BYTES", offsets * per_offset)
    x = np.random.default_rng(13).standard_normal((7, 2, 7, 6))
    g = np.random.default_rng(14).standard_normal((7, 3, 7, 6))
    layer.forward(x, training=True)
    dx = layer.backward(g)
    padded = np.stack(
        [
            [
                sum(signal.convolve2d(g[n, d], layer.kernels[d, c], "full") for d in range(3))
                for c in range(2)
            ]
            for n in range(7)
        ]
    )
    np.testing.assert_allclose(dx, padded[:, :, 1:-1, 1:-1], rtol=1e-10, atol=1e-12)
    check_gradients(layer, x, training=True)


@pytest.mark.parametrize("batch_major", [True, False])
def test_large_batch_gradients_agree_between_layouts(batch_major: bool) -> None:
    # the kernel-gradient products of both layouts (blocked gram for the long one)
    layer = conv64((1, 20, 20), 3, 2, bias="channel")
    layer._plan.batch_major = batch_major
    rng = np.random.default_rng(12)
    x = rng.standard_normal((40, 1, 20, 20))
    g = rng.standard_normal((40, 2, 18, 18))
    for training in (True, False):
        layer.zero_grad()
        np.testing.assert_allclose(layer.forward(x, training=training), reference(x, layer))
        dx = layer.backward(g)
        expected = np.array(
            [
                [sum(signal.correlate2d(x[n, 0], g[n, d], "valid") for n in range(40))]
                for d in (0, 1)
            ]
        )
        np.testing.assert_allclose(layer.grads["kernels"], expected, rtol=1e-10)
        expected_dx = np.stack(
            [
                [sum(signal.convolve2d(g[n, d], layer.kernels[d, 0], "full") for d in (0, 1))]
                for n in range(40)
            ]
        )
        np.testing.assert_allclose(dx, expected_dx, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n", [1, 7])
@pytest.mark.parametrize("offsets", [1, 2, 4, 9])
@pytest.mark.parametrize(("shape", "padding"), [((4, 7, 6), "same"), ((4, 8, 9), "valid")])
def test_input_gradient_on_the_columns_layout_matches_convolve2d_and_gradients_check(
    monkeypatch: pytest.MonkeyPatch, n: int, offsets: int, shape, padding: str
) -> None:
    # the wide layers' input gradient (_input_gradient_long), forced on a small layer: products
    # a few kernel offsets at a time (LONG_BYTES: parts of 1, 2 (a short last part), 4 or all
    # 9), in sub-batches of 3 (a short last one), odd sizes, batch 1
    monkeypatch.setattr(convolution, "SUB_BATCH", 3)
    monkeypatch.setattr(convolution, "LONG_INPUT_MIN_CHANNELS", 1)
    layer = conv64(shape, 3, 4, padding=padding, bias="channel")
    plan = layer._plan
    assert not plan.batch_major and plan.input_gradient_long()
    per_offset = plan.geo.channels * min(3, n) * plan.geo.length * 8
    monkeypatch.setattr(convolution, "LONG_BYTES", offsets * per_offset)
    rng = np.random.default_rng(17 + n)
    x = rng.standard_normal((n, *shape))
    for training in (True, False):
        y = layer.forward(x, training=training)
        np.testing.assert_allclose(y, reference(x, layer), rtol=1e-12, atol=1e-12)
        g = rng.standard_normal(y.shape)
        layer.zero_grad()
        dx = layer.backward(g)
        full = np.stack(
            [
                [
                    sum(signal.convolve2d(g[i, d], layer.kernels[d, c], "full") for d in range(4))
                    for c in range(shape[0])
                ]
                for i in range(n)
            ]
        )
        expected = full[:, :, 1:-1, 1:-1] if padding == "same" else full
        np.testing.assert_allclose(dx, expected, rtol=1e-10, atol=1e-12)
        check_gradients(layer, x, training=training)


def test_a_wide_layer_takes_the_columns_layout_input_gradient_by_default() -> None:
    # 16 input channels (LONG_INPUT_MIN_CHANNELS) at stride 1: the columns' layout; fewer
    # channels keep the grid (LeNet-5's conv2: 6)
    wide = conv64((16, 5, 5), 3, 3, padding="same", bias="channel")
    assert wide._plan.input_gradient_long()
    assert not conv64((6, 12, 12), 5, 16)._plan.input_gradient_long()
    rng = np.random.default_rng(19)
    x = rng.standard_normal((2, 16, 5, 5))
    np.testing.assert_allclose(wide.forward(x, training=True), reference(x, wide), rtol=1e-12)
    check_gradients(wide, x, training=True)
