"""Layer fusion in the execution plan (``Layer.fuse_with``): a convolution and the
non-overlapping max pool after it run as one step, with the results of the two layers."""

from __future__ import annotations

import sys

import nnf
import numpy as np
import pytest
from model_gradcheck import central_difference
from nnf import parallel
from nnf.layers import Convolutional, Dense, Flatten, MaxPool2D, ReLU, Softmax
from nnf.parallel import plan, threads
from nnf.parallel.plan import Absorbed, execution_order
from nnf_layers.conv_pool import ConvPool
from nnf_layers.kernels import fused as fused_kernels


@pytest.fixture(params=["in-blocks", "whole"])
def gradient_layout(request, monkeypatch):
    """The pool's gradient scattered block by block into the convolution's layouts, or made
    whole first (small layers, ``WHOLE_BYTES``): both must give the unfused results."""
    monkeypatch.setattr(
        fused_kernels, "WHOLE_BYTES", 0 if request.param == "in-blocks" else 1 << 40
    )
    return request.param


def names(layers) -> list[str]:
    return [type(layer).__name__ for layer in layers]


def net(
    dtype: str = "float64",
    padding: str = "same",
    bias: str = "channel",
    pool: int = 2,
    size: int = 11,
    stride: int = 1,
    depths: tuple[int, int] = (4, 20),  # 4 x 2 x 3 x 3 > 32: long layout; 2 x 3 x 3: batch-major
) -> nnf.Sequential:
    layers: list = []
    for depth in depths:
        conv = Convolutional(kernel_size=3, depth=depth, padding=padding, bias=bias, stride=stride)
        layers += [conv, ReLU(), MaxPool2D(pool)]
    layers += [Flatten(), Dense(output_size=3), Softmax()]
    return nnf.Sequential(layers, input_shape=(2, size, size), dtype=dtype).build(seed=1)


def data(n: int, size: int, dtype: str = "float64") -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 2, size, size)).astype(dtype), rng.integers(0, 3, n)


def step_results(model: nnf.Sequential, x: np.ndarray) -> list[np.ndarray]:
    """Output, dL/dx and every parameter gradient for one forward/backward of ``model``."""
    y = model.forward(x, training=True)
    g = np.random.default_rng(5).standard_normal(y.shape).astype(y.dtype)
    model.zero_grad()
    dx = model.backward(g)
    grads = [grad.copy() for _, _, grad in model.named_parameters()]
    model.zero_grad()
    return [y, dx, *grads]


def test_the_plan_fuses_each_conv_with_the_pool_after_its_relu() -> None:
    model = net()
    order = execution_order(model.layers)
    assert names(order) == [
        *("ConvPool", "Absorbed", "ReLU") * 2,
        *("Flatten", "Dense", "Softmax"),
    ]
    assert len(order) == len(model.layers)  # positions in the order still name the layers
    assert names(model.layers)[:3] == ["Convolutional", "ReLU", "MaxPool2D"]  # as written
    step = order[0]
    assert step.params is model.layers[0].params and step.grads is model.layers[0].grads
    with plan.unfused():
        assert names(execution_order(model.layers))[:3] == ["Convolutional", "MaxPool2D", "ReLU"]


def test_the_split_rule_weighs_a_fused_model_as_unfused() -> None:
    from nnf.parallel import host

    model = net(size=32, depths=(32, 64))
    fused_order = execution_order(model.layers)
    with plan.unfused():
        separate = execution_order(model.layers)
    assert host.forward_macs(fused_order[0]) == host.forward_macs(model.layers[0]) > 0
    assert host.min_part(fused_order) == host.min_part(separate)


@pytest.mark.parametrize(
    "pool",
    [MaxPool2D(3, stride=2), MaxPool2D(2, stride=1), MaxPool2D(1)],
    ids=["overlapping", "stride-below-size", "pool-1"],
)
def test_unsupported_pools_run_unfused(pool) -> None:
    layers = [Convolutional(kernel_size=3, depth=2), pool, Flatten(), Dense(output_size=2)]
    model = nnf.Sequential(layers, input_shape=(1, 9, 9)).build(seed=0)
    assert names(execution_order(model.layers))[:2] == ["Convolutional", "MaxPool2D"]


def test_subclasses_and_unbuilt_layers_run_unfused() -> None:
    class MyConv(Convolutional):
        pass

    conv = MyConv((1, 8, 8), 3, 2)
    pool = MaxPool2D(2)
    pool.build((2, 6, 6))
    assert conv.fuse_with(pool) is None
    assert Convolutional(kernel_size=3, depth=2).fuse_with(MaxPool2D(2)) is None  # unbuilt


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"bias": "position"},
        {"padding": "valid", "size": 13},
        {"size": 13},  # 13 -> 6 -> 3: the pools drop a row and a column
        {"pool": 3, "size": 17},
        {"stride": 2, "size": 19},
        {"depths": (2, 3)},  # grid input gradient (few channels)
        {"depths": (16, 16)},  # long-layout input gradient (C >= 16)
    ],
    ids=repr,
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n", [1, 5])
def test_fused_forward_and_backward_equal_unfused(config, dtype, n, gradient_layout) -> None:
    model = net(dtype=dtype, **config)
    x, _ = data(n, config.get("size", 11), dtype)
    assert "ConvPool" in names(execution_order(model.layers))
    fused = step_results(model, x)
    with plan.unfused():
        separate = step_results(model, x)
    tol = 1e-12 if dtype == "float64" else 1e-5
    for a, b in zip(fused, separate, strict=True):
        assert a.dtype == np.dtype(dtype)
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("config", [{}, {"bias": "position", "size": 13}, {"pool": 3}], ids=repr)
def test_fused_step_gradients_equal_central_differences(config, gradient_layout) -> None:
    model = net(**config)
    x, labels = data(3, config.get("size", 11))
    y = np.eye(3)[labels]
    loss = nnf.losses.get_loss("categorical_crossentropy")
    model.zero_grad()
    model.backward(loss.gradient(y, model.forward(x, training=True)))
    rng = np.random.default_rng(1)
    for layer in model.layers:
        for name, p, grad in layer.parameters():
            for index in [tuple(int(rng.integers(0, s)) for s in p.shape) for _ in range(4)]:
                expected = central_difference(model, loss, x, y, p, index)
                assert grad[index] == pytest.approx(expected, rel=1e-5, abs=1e-8), name
    # dL/dx as well: the step's own backward
    step = execution_order(model.layers)[0]
    assert isinstance(step, ConvPool)
    w = rng.standard_normal(step.forward(x).shape)
    dx = step.backward(w)
    for index in [(0, 0, 0, 0), (1, 1, 5, 7), (2, 0, 10, 10)]:
        old = x[index]
        x[index] = old + 1e-6
        up = float((w * step.forward(x)).sum())
        x[index] = old - 1e-6
        down = float((w * step.forward(x)).sum())
        x[index] = old
        assert dx[index] == pytest.approx((up - down) / 2e-6, rel=1e-5, abs=1e-8)
    model.zero_grad()


def test_one_sample_and_backward_after_an_inference_forward() -> None:
    model = net()
    step = execution_order(model.layers)[0]
    conv, pool = model.layers[0], model.layers[2]
    x, _ = data(1, 11)
    y = step.forward(x[0])  # one sample (C, H, W), inference: no argmax kept
    with plan.unfused():
        assert np.array_equal(y, pool.forward(conv.forward(x[0])))
    g = np.ones_like(y)
    model.zero_grad()
    dx = step.backward(g)  # takes the argmax now
    fused_grads = [conv.grads[k].copy() for k in ("kernels", "biases")]
    model.zero_grad()
    pool.forward(conv.forward(x[0], training=True), training=True)
    expected = conv.backward(pool.backward(g))
    np.testing.assert_allclose(dx, expected, atol=1e-12)
    for k, got in zip(("kernels", "biases"), fused_grads, strict=True):
        np.testing.assert_allclose(got, conv.grads[k], atol=1e-12)
    model.zero_grad()


def test_the_fused_forward_keeps_no_pool_input() -> None:
    model = net()
    x, _ = data(4, 11)
    with plan.unfused():
        model.forward(x, training=True)
    pool = model.layers[2]
    assert pool.input.shape == (4, 4, 11, 11)
    model.forward(x, training=True)
    with pytest.raises(AttributeError, match="no 'input' kept"):
        pool.input  # noqa: B018
    assert pool.argmax.shape == (4, 4, 5, 5)
    assert model.layers[0].input is not None


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fit_and_predict_equal_unfused(dtype, gradient_layout) -> None:
    x, y = data(40, 13, dtype)
    results = []
    for fuse in (True, False):
        model = net(dtype=dtype, size=13)
        token = plan.FUSE.set(fuse)
        try:
            model.fit(x, y, epochs=2, batch_size=8, seed=3, verbose=0, parallel="single")
            results.append([model.predict(x), *(p.copy() for _, p, _ in model.named_parameters())])
        finally:
            plan.FUSE.reset(token)
    tol = 1e-10 if dtype == "float64" else 2e-5
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.fixture
def two_threads(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setattr(threads, "_threads", 2)
    monkeypatch.setattr(parallel, "MIN_PROCESS_SAMPLES", 0)
    monkeypatch.setattr(threads, "single_threaded", lambda: True)  # fork in pytest's process


@pytest.mark.parametrize(
    "name",
    [
        "threads",
        pytest.param(
            "processes",
            marks=pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork: Linux"),
        ),
    ],
)
def test_split_backends_train_fused_steps_like_unfused_single(
    two_threads, name, gradient_layout
) -> None:
    x, y = data(128, 11)
    results = {}
    for backend in ("single", name):
        model = net()
        order = execution_order(model.layers)
        with parallel.runtime(order, 64, training=True, samples=10**6, parallel=backend) as r:
            assert r.name == backend
        if backend == "single":
            with plan.unfused():
                model.fit(x, y, epochs=2, batch_size=64, seed=3, verbose=0, parallel=backend)
        else:
            model.fit(x, y, epochs=2, batch_size=64, seed=3, verbose=0, parallel=backend)
        results[backend] = [p.copy() for _, p, _ in model.named_parameters()]
        results[backend].append(model.predict(x, parallel="threads"))
    for a, b in zip(results["single"], results[name], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


def test_absorbed_passes_values_and_gradients_through() -> None:
    pool = MaxPool2D(2)
    pool.build((1, 4, 4))
    step = Absorbed(pool)
    x = np.arange(4.0).reshape(1, 1, 2, 2)
    assert step.forward(x) is not None and np.array_equal(step.forward(x), x)
    assert np.array_equal(step.backward(x), x)
    assert step.out_shape == (1, 2, 2) and not step.params
    assert isinstance(step.replica(), Absorbed)


def test_threads_sharing_a_fused_model_get_their_own_answers() -> None:
    """Safe to embed: fused steps keep their state on the layers' per-thread attributes and
    their buffers in per-thread workspaces, so threads predicting at once do not mix."""
    import threading

    model = net(dtype="float32", size=32, depths=(32, 64))
    batches = [data(48, 32, "float32")[0] * (i + 1) for i in range(4)]
    with plan.unfused():
        expected = [model.predict(x, batch_size=16) for x in batches]
    got: dict[int, np.ndarray] = {}

    def run(i: int) -> None:
        for _ in range(3):
            got[i] = model.predict(batches[i], batch_size=16)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for i, want in enumerate(expected):
        np.testing.assert_allclose(got[i], want, rtol=1e-5, atol=1e-6)


def test_a_backward_started_between_the_fused_layers_runs_the_convolution_alone() -> None:
    model = net()
    x, _ = data(3, 11)
    g = np.random.default_rng(3).standard_normal((3, 4, 11, 11))  # dL/d(conv output)
    results = []
    for fuse in (True, False):
        token = plan.FUSE.set(fuse)
        try:
            model.forward(x, training=True)
            model.zero_grad()
            dx = model.backward(g, start=1)  # before the pool (position 1 in either order)
            results.append([dx, *(grad.copy() for _, _, grad in model.named_parameters())])
        finally:
            plan.FUSE.reset(token)
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    model.zero_grad()
