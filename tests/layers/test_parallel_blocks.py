"""Layers split across threads (``_parallel``): same results as one thread, run after run."""

from __future__ import annotations

import os

import numpy as np
import pytest
from nnf.errors import ConfigError
from nnf.layers import Convolutional, MaxPool2D
from nnf_layers import _parallel


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch):
    """Set the thread count for one test (the module reads NNF_NUM_THREADS only once)."""

    def use(n: int) -> None:
        monkeypatch.setattr(_parallel, "_threads", n)

    return use


def test_groups_are_whole_blocks_in_order(threads) -> None:
    threads(3)
    seen = _parallel.map_groups(lambda g, a, b: (g, a, b), 200, 32)
    # 7 blocks of 32 dealt to 3 groups: 3 + 3 + 1 blocks, the last one cut at 200
    assert seen == [(0, 0, 96), (1, 96, 192), (2, 192, 200)]
    assert _parallel.map_groups(lambda g, a, b: (g, a, b), 20, 32) == [(0, 0, 20)]
    threads(1)
    assert _parallel.map_groups(lambda g, a, b: (g, a, b), 200, 32) == [(0, 0, 200)]


@pytest.mark.parametrize("raw", ["0", "two", "-1"])
def test_bad_thread_setting_is_a_config_error(raw: str, monkeypatch, threads) -> None:
    threads(None)
    monkeypatch.setenv("NNF_NUM_THREADS", raw)
    with pytest.raises(ConfigError, match="NNF_NUM_THREADS"):
        _parallel.thread_count()


def test_thread_setting_from_the_environment(monkeypatch, threads) -> None:
    threads(None)
    monkeypatch.setenv("NNF_NUM_THREADS", "3")
    assert _parallel.thread_count() == 3
    monkeypatch.delenv("NNF_NUM_THREADS")
    for openblas, omp, expected in [
        ("1", None, min(2, os.cpu_count() or 1)),  # BLAS on one thread: use the second core
        (None, "1", min(2, os.cpu_count() or 1)),
        ("2", "1", 1),  # OpenBLAS reads its own variable first
        (None, None, 1),  # BLAS threads already spread the work
    ]:
        for var, value in (("OPENBLAS_NUM_THREADS", openblas), ("OMP_NUM_THREADS", omp)):
            if value is None:
                monkeypatch.delenv(var, raising=False)
            else:
                monkeypatch.setenv(var, value)
        threads(None)
        assert _parallel.thread_count() == expected


def _conv_pass(layer: Convolutional, x: np.ndarray, g: np.ndarray) -> list[np.ndarray]:
    layer.zero_grad()
    y = layer.forward(x, training=True)
    dx = layer.backward(g)
    return [y.copy(), dx.copy(), layer.grads["kernels"].copy(), layer.grads["biases"].copy()]


@pytest.mark.parametrize(
    ("shape", "k", "depth", "padding"),
    [((1, 12, 12), 5, 6, "same"), ((6, 9, 9), 3, 4, "valid")],  # batch-major and long layout
)
def test_convolution_on_two_threads_matches_one(threads, shape, k, depth, padding) -> None:
    rng = np.random.default_rng(0)
    layer = Convolutional(shape, k, depth, padding=padding, bias="channel")
    x = rng.standard_normal((100, *shape)).astype(np.float32)  # 4 blocks of 32, the last cut
    g = rng.standard_normal((100, *layer.out_shape)).astype(np.float32)
    threads(1)
    one = _conv_pass(layer, x, g)
    threads(2)
    two = _conv_pass(layer, x, g)
    again = _conv_pass(layer, x, g)
    for a, b, c in zip(one, two, again, strict=True):
        assert b.dtype == np.float32
        np.testing.assert_array_equal(b, c)  # reproducible run to run
        # only the float32 sum order differs
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * np.abs(a).max())
    # forward output and input gradient are computed sample by sample: exactly equal
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])


def test_convolution_inference_on_two_threads_matches_one(threads) -> None:
    rng = np.random.default_rng(1)
    layer = Convolutional((6, 9, 9), 3, 4)
    x = rng.standard_normal((70, 6, 9, 9))
    threads(1)
    one = layer.forward(x)
    threads(2)
    np.testing.assert_array_equal(layer.forward(x), one)


@pytest.mark.parametrize("training", [True, False])
def test_pooling_on_two_threads_matches_one(threads, training: bool) -> None:
    rng = np.random.default_rng(2)
    # rounded values: plenty of ties, which must still route to the first maximum
    x = np.round(rng.standard_normal((150, 3, 8, 8)), 1).astype(np.float32)
    g = rng.standard_normal((150, 3, 4, 4)).astype(np.float32)
    results = []
    for n in (1, 2):
        threads(n)
        layer = MaxPool2D(2)
        layer.build((3, 8, 8), rng, np.dtype(np.float32))
        results.append((layer.forward(x, training=training), layer.backward(g)))
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)
