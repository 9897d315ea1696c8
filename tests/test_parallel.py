"""nnf.parallel: one interface for every backend, chosen by name; the training loop and the
model see only that interface."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from nnf import Sequential, parallel
from nnf.errors import ConfigError
from nnf.layers import Convolutional, Dense, Flatten, MaxPool2D, ReLU, Softmax
from nnf.parallel import threads
from nnf.parallel.plan import execution_order
from nnf.parallel.single import Runtime


def _lenet() -> Sequential:
    layers = [Convolutional(kernel_size=3, depth=4), ReLU(), MaxPool2D(), Flatten()]
    return Sequential([*layers, Dense(output_size=5), Softmax()], input_shape=(1, 10, 10)).build(
        seed=0
    )


def _data(n: int = 128) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    return rng.standard_normal((n, 1, 10, 10)).astype(np.float32), rng.integers(0, 5, n)


@pytest.fixture
def two_threads(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setattr(threads, "_threads", 2)
    monkeypatch.setattr(parallel, "MIN_PROCESS_SAMPLES", 0)
    monkeypatch.setattr(threads, "single_threaded", lambda: True)  # fork in pytest's process


@pytest.mark.parametrize(
    ("name", "training", "expected"),
    [
        ("single", True, "single"),
        ("threads", True, "threads"),
        ("auto", False, "processes"),  # predict of many samples: worker processes too
        ("processes", False, "processes"),
    ],
)
def test_backends_by_name(two_threads, name, training, expected):
    layers = execution_order(_lenet().layers)
    with parallel.runtime(layers, 64, training=training, samples=10**6, parallel=name) as r:
        assert isinstance(r, Runtime) and r.name == expected
        assert (r.rank, r.ranks, r.shard(64)) == (0, 1, (0, 64))


def test_short_predict_runs_on_threads(two_threads, monkeypatch):
    # a worker process costs ~15 ms to start: below MIN_PROCESS_SAMPLES parts run on threads
    monkeypatch.setattr(parallel, "MIN_PROCESS_SAMPLES", 4096)
    layers = execution_order(_lenet().layers)
    with parallel.runtime(layers, 64, samples=4095) as r:
        assert r.name == "threads"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="worker processes: Linux")
def test_fit_runs_processes_by_default_when_it_may_fork(two_threads):
    layers = execution_order(_lenet().layers)
    with parallel.runtime(layers, 64, training=True, samples=10**6) as r:
        assert r.name == "processes"


def test_a_batch_too_small_to_split_runs_single(two_threads):
    layers = execution_order(_lenet().layers)
    with parallel.runtime(layers, 31, training=True, samples=10**6) as r:
        assert r.name == "single"


@pytest.mark.parametrize("name", ["threads", "processes"])
def test_every_backend_trains_like_single(two_threads, name):
    """Same seed, same data: split backends differ from one piece by float rounding only."""
    x, y = _data()
    results = {}
    for backend in ("single", name):
        model = _lenet()
        model.fit(x, y, epochs=2, batch_size=64, loss="categorical_crossentropy", seed=3,
                  verbose=0, parallel=backend)  # fmt: skip
        results[backend] = [p.copy() for _, p, _ in model.named_parameters()]
    for a, b in zip(results["single"], results[name], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_the_single_backend_is_the_models_own_forward_and_backward():
    model, (x, _) = _lenet(), _data(16)
    runner = Runtime(execution_order(model.layers))
    np.testing.assert_array_equal(runner.forward(x, training=False), model.predict(x))
    grad = np.ones((16, 5), dtype=np.float32)
    runner.forward(x, training=True)
    runner.backward(grad, start=len(model.layers))
    ours = [g.copy() for _, _, g in model.named_parameters()]
    model.zero_grad()
    model.forward(x, training=True)
    model.backward_parameters(grad)
    for a, (_, _, b) in zip(ours, model.named_parameters(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_an_unknown_backend_is_a_config_error(monkeypatch):
    x, y = _data(8)
    with pytest.raises(ConfigError, match="parallel must be one of"):
        _lenet().fit(x, y, parallel="gpu", verbose=0)
    monkeypatch.setenv("NNF_PARALLEL", "gpu")
    with pytest.raises(ConfigError, match="NNF_PARALLEL"):
        _lenet().predict(x)


def test_the_single_backend_imports_nothing_of_the_others():
    code = (
        "import sys, numpy as np, nnf\n"
        "from nnf.layers import Dense\n"
        "m = nnf.Sequential([Dense(output_size=2)], input_shape=(3,))\n"
        "m.fit(np.zeros((4, 3)), np.zeros((4, 2)), parallel='single', verbose=0)\n"
        "print(sorted(k for k in sys.modules if k.startswith('nnf.parallel.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    loaded = eval(out.stdout)
    assert "nnf.parallel.workers" not in loaded and "nnf.parallel.replicas" not in loaded


def test_layers_may_still_import_nnf_threads():
    """``from nnf import threads`` (layers written before nnf.parallel) is the same module."""
    from nnf import threads as old_name

    assert old_name is threads
