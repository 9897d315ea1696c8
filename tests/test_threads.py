"""Threads: layer blocks and whole-batch replicas give the results of one thread, reproducibly;
nnf takes BLAS down to one thread only inside its own loops; the allocator tuning is optional."""

from __future__ import annotations

import itertools
import mmap
import os
import subprocess
import sys
import time
from contextlib import contextmanager

import attrs
import numpy as np
import pytest
from nnf import Sequential, parallel
from nnf.errors import ConfigError, TrainingError
from nnf.layer import Layer
from nnf.layers import (
    Convolutional,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Softmax,
)
from nnf.parallel import blas, host, threads, workers
from nnf.parallel.host import MIN_PART, WORK_PER_WEIGHT, core_split, forward_macs, min_part
from nnf.parallel.replicas import Replicas
from nnf.parallel.workers import ProcessReplicas

CPUS = min(2, os.cpu_count() or 1)
# What nnf defaults to: every CPU this process may use (fewer under `taskset -c 0`).
USABLE = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
if threads.cgroup_cpu_limit():  # a container's CPU quota (docker --cpus) caps it
    USABLE = min(USABLE, threads.cgroup_cpu_limit() or USABLE)


@pytest.fixture
def use_threads(monkeypatch: pytest.MonkeyPatch):
    """Set the thread count for one test (read from NNF_NUM_THREADS only once) with BLAS on
    one thread, as under the ``nnf`` command."""
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setattr(parallel, "MIN_PROCESS_SAMPLES", 0)  # even short fits use workers
    # pytest's process has BLAS threads of its own, so fit would never fork here; these tests
    # check the workers themselves (tests/test_embedding.py checks when nnf may fork)
    monkeypatch.setattr(threads, "single_threaded", lambda: True)

    def use(n: int | None) -> None:
        monkeypatch.setattr(threads, "_threads", n)

    return use


@contextmanager
def data_parallel(layers, batch_size: int, processes: bool = False):
    """The split runtime a ``fit`` (``processes``) or a ``predict`` on threads would get;
    None where it would run single."""
    samples, name = (10**9, None) if processes else (0, "threads")
    with parallel.runtime(
        layers, batch_size, training=processes, samples=samples, parallel=name
    ) as runner:
        yield None if runner.name == "single" else runner


# ----------------------------------------------------------------- the thread rules
def test_groups_are_whole_blocks_in_order(use_threads) -> None:
    use_threads(3)
    seen = threads.map_groups(lambda g, a, b: (g, a, b), 200, 32)
    # 7 blocks of 32 dealt to 3 groups: 3 + 3 + 1 blocks, the last one cut at 200
    assert seen == [(0, 0, 96), (1, 96, 192), (2, 192, 200)]
    assert threads.map_groups(lambda g, a, b: (g, a, b), 20, 32) == [(0, 0, 20)]
    use_threads(1)
    assert threads.map_groups(lambda g, a, b: (g, a, b), 200, 32) == [(0, 0, 200)]


def test_no_nested_splits_inside_a_part(use_threads) -> None:
    use_threads(2)
    inner = threads.run_parts([lambda: threads.available(), lambda: threads.available()])
    assert threads.available() == 2 and inner == [1, 1]
    # a layer called inside a part runs its blocks on the part's thread
    nested = threads.run_parts([lambda: threads.map_groups(lambda g, a, b: (g, a, b), 64, 16)])
    assert nested == [[(0, 0, 64)]]


def test_parts_run_together_know_they_share_the_process(use_threads) -> None:
    # kernels take larger inference blocks only there (kernels.convolution, INFER_BLOCK_MACS)
    use_threads(2)
    assert not threads.in_shared_part()
    together = threads.run_parts([threads.in_shared_part, threads.in_shared_part])
    alone = threads.run_parts([threads.in_shared_part])
    assert together == [True, True] and alone == [False] and not threads.in_shared_part()


def test_errors_in_parts_reach_the_caller(use_threads) -> None:
    use_threads(2)

    def boom() -> None:
        raise ValueError("part 1 failed")

    with pytest.raises(ValueError, match="part 1 failed"):
        threads.run_parts([lambda: None, boom])


@pytest.mark.parametrize("raw", ["0", "two", "-1"])
def test_bad_thread_setting_is_a_config_error(raw: str, monkeypatch, use_threads) -> None:
    use_threads(None)
    monkeypatch.setenv("NNF_NUM_THREADS", raw)
    with pytest.raises(ConfigError, match="NNF_NUM_THREADS"):
        threads.thread_count()


@pytest.mark.parametrize("cpus", [1, 2, 8, 64])
def test_nnf_uses_every_usable_cpu_by_default(cpus: int, monkeypatch, use_threads) -> None:
    use_threads(None)
    monkeypatch.delenv("NNF_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "_usable_cpus", lambda: cpus)
    assert threads.thread_count() == cpus


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "200000 100000"}, 2),  # v2, docker run --cpus 2
        ({"cpu.max": "150000 100000"}, 2),  # 1.5 CPUs: rounded up
        ({"cpu.max": "max 100000"}, None),  # no quota
        ({"cpu/cpu.cfs_quota_us": "400000", "cpu/cpu.cfs_period_us": "100000"}, 4),  # v1
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
        ({}, None),  # no cgroup files at all
    ],
)
def test_a_cgroup_cpu_quota_is_read(files, expected, tmp_path) -> None:
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    table = tmp_path / "self_cgroup"
    version = "1:cpu,cpuacct:/" if any(n.startswith("cpu/") for n in files) else "0::/"
    table.write_text(version + "\n")
    assert threads.cgroup_cpu_limit(str(root), str(table)) == expected
    assert threads.cgroup_cpu_limit(str(root), str(tmp_path / "missing")) is None


def test_the_quota_caps_the_default_thread_count(monkeypatch) -> None:
    # a container's affinity mask lists every host CPU; its quota is what it may use
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda: 1)
    assert threads._usable_cpus() == 1


@pytest.mark.parametrize(
    ("cores", "batch", "least", "expected"),
    [
        (1, 64, 16, (1, 0)),  # one core: nothing to split
        (2, 64, 16, (2, 0)),  # this host: two parts of 32
        (2, 16, 16, (1, 0)),  # a part would be under `least`: unsplit, BLAS gets the cores
        (8, 64, 16, (4, 4)),  # parts of at least 16 samples: 4 cores left idle
        (8, 256, 16, (8, 0)),
        (64, 64, 16, (4, 60)),
        (64, 1024, 16, (64, 0)),
        (64, 4096, 16, (64, 0)),  # never more parts than cores
        (64, 31, 16, (1, 0)),
    ],
)
def test_core_split_divides_fake_core_counts(cores, batch, least, expected) -> None:
    assert core_split(cores, batch, least) == expected
    parts, idle = expected
    assert parts == 1 or parts + idle == cores  # a split accounts for every core
    assert core_split(cores, batch, least, can_split=False) == (1, 0)


def _conv_net() -> Sequential:
    """Much work per weight: 16 3x3 kernels over 16x16 pixels, a small dense layer."""
    conv = Convolutional(kernel_size=3, depth=16, padding="same", bias="channel")
    layers = [conv, MaxPool2D(4), Flatten()]
    return Sequential([*layers, Dense(output_size=3)], input_shape=(1, 16, 16)).build(seed=0)


@pytest.mark.parametrize(("cores", "batch", "parts"), [(8, 64, 4), (64, 256, 16), (3, 64, 3)])
def test_split_parts_follows_the_core_count(cores, batch, parts, monkeypatch, use_threads) -> None:
    use_threads(cores)
    model = _conv_net()
    assert min_part(model.layers) == MIN_PART
    assert host.split_parts(model.layers, batch) == parts


def test_forward_macs_counts_the_products_of_a_sample() -> None:
    conv, pool, flatten, dense = _conv_net().layers
    assert forward_macs(conv) == 16 * 1 * 3 * 3 * 16 * 16 + 16  # kernels per pixel, biases
    assert forward_macs(dense) == 3 * 256 + 3
    assert forward_macs(pool) == forward_macs(flatten) == 0
    # the tutorial's bias per position is one add per output value, not a weight matrix
    tutorial = Sequential(
        [Convolutional(kernel_size=3, depth=5, bias="position"), Flatten()],
        input_shape=(1, 28, 28),
    ).build(seed=0)
    assert forward_macs(tutorial.layers[0]) == 5 * 9 * 26 * 26 + 5 * 26 * 26


def test_a_layer_may_declare_its_own_work() -> None:
    class Declared(Dense):
        def forward_macs(self) -> int:
            return 10**9

    model = Sequential([Flatten(), Declared(output_size=3)], input_shape=(1, 4, 4)).build(seed=0)
    assert forward_macs(model.layers[1]) == 10**9
    assert min_part(model.layers) == MIN_PART


@pytest.mark.parametrize(
    ("name", "layers", "least"),
    [
        # LeNet-5-like (a conv net): every weight works on many pixels
        ("conv", [Convolutional(kernel_size=3, depth=16, padding="same"), Flatten()], MIN_PART),
        # a dense net: each weight once per sample, so parts need WORK_PER_WEIGHT samples
        ("dense", [Flatten(), Dense(output_size=100)], WORK_PER_WEIGHT),
        # no weights at all: only the per-step costs count
        ("pool", [MaxPool2D(2), Flatten()], MIN_PART),
    ],
)
def test_parts_are_sized_by_work_per_weight(name, layers, least) -> None:
    model = Sequential(layers, input_shape=(1, 16, 16)).build(seed=0)
    assert min_part(model.layers) == least, name


def test_the_tutorial_cnn_splits_only_large_batches(use_threads) -> None:
    # its weights are one 3380x100 matrix used once per sample: split at batch 32 and 64 it
    # ran 0.95x and 0.98x, at 128 1.10x (benchmarks/README.md, "The split rule")
    use_threads(2)
    layers = [Convolutional(kernel_size=3, depth=5, bias="position"), Sigmoid(), Flatten()]
    layers += [Dense(output_size=100), Sigmoid(), Dense(output_size=2), Sigmoid()]
    model = Sequential(layers, input_shape=(1, 28, 28)).build(seed=0)
    least = min_part(model.layers)
    assert 32 < least <= 64
    assert [host.split_parts(model.layers, b) for b in (32, 64, 128)] == [1, 1, 2]


def test_thread_setting_from_the_environment(monkeypatch, use_threads) -> None:
    use_threads(None)
    monkeypatch.setenv("NNF_NUM_THREADS", "3")
    assert threads.thread_count() == 3
    monkeypatch.delenv("NNF_NUM_THREADS")
    use_threads(None)
    assert threads.thread_count() == USABLE


@pytest.mark.skipif(CPUS < 2, reason="needs two CPUs")
def test_layer_threads_only_while_blas_runs_on_one(monkeypatch, use_threads) -> None:
    use_threads(2)
    for openblas, omp, expected in [
        ("1", None, 2),  # the nnf command's setting
        (None, "1", 2),
        ("2", "1", 1),  # OpenBLAS reads its own variable first: the user wants BLAS threads
        (None, None, 1),  # BLAS may run threads of its own outside nnf's loops
    ]:
        for var, value in (("OPENBLAS_NUM_THREADS", openblas), ("OMP_NUM_THREADS", omp)):
            if value is None:
                monkeypatch.delenv(var, raising=False)
            else:
                monkeypatch.setenv(var, value)
        assert threads.available() == expected


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_blas_threads_found_limited_and_restored() -> None:
    before = blas.thread_counts()
    assert before, "NumPy's OpenBLAS was not found among the loaded libraries"
    saved = blas.limit_threads(1)
    try:
        assert blas.thread_counts() == [1] * len(before)
    finally:
        blas.restore_threads(saved)
    assert blas.thread_counts() == before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_parallel_section_takes_blas_to_one_thread_and_back(monkeypatch, use_threads) -> None:
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    use_threads(2)
    saved = blas.limit_threads(3)  # a known starting point
    try:
        with threads.parallel_section() as n:
            assert n == 2 and blas.thread_counts() == [1] * len(saved)
            with threads.parallel_section() as inner:  # nested: still limited
                assert inner == 2
            assert blas.thread_counts() == [1] * len(saved)
        assert blas.thread_counts() == [3] * len(saved)
        # the user asked for BLAS threads: nnf leaves them and uses none of its own
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
        with threads.parallel_section() as n:
            assert n == 1 and blas.thread_counts() == [3] * len(saved)
    finally:
        blas.restore_threads(saved)


def test_split_is_contiguous_and_complete() -> None:
    for n in (1, 31, 64, 65, 200):
        for parts in (1, 2, 3):
            for step in (1, 16):
                bounds = threads.split(n, parts, step)
                assert bounds[0][0] == 0 and bounds[-1][1] == n
                assert all(a < b for a, b in bounds) and len(bounds) <= parts
                assert all(b1 == a2 for (_, b1), (a2, _) in itertools.pairwise(bounds))


def test_allocator_tuning_is_optional() -> None:
    code = "from nnf.parallel import allocator; print(allocator.tune(), allocator.tune())"
    env = {**os.environ, "NNF_MALLOC_TUNING": "0"}
    off = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert off.stdout.split() == ["False", "False"], off.stderr
    env.pop("NNF_MALLOC_TUNING")
    on = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    expected = "True" if sys.platform.startswith("linux") else "False"
    assert on.stdout.split() == [expected, expected], on.stderr


# ------------------------------------------------------------ blocks inside layers
def _conv_pass(layer: Convolutional, x: np.ndarray, g: np.ndarray) -> list[np.ndarray]:
    layer.zero_grad()
    y = layer.forward(x, training=True)
    dx = layer.backward(g)
    return [y.copy(), dx.copy(), layer.grads["kernels"].copy(), layer.grads["biases"].copy()]


@pytest.mark.parametrize(
    ("shape", "k", "depth", "padding"),
    [((1, 12, 12), 5, 6, "same"), ((6, 9, 9), 3, 4, "valid")],  # batch-major and long layout
)
def test_convolution_on_two_threads_matches_one(use_threads, shape, k, depth, padding) -> None:
    rng = np.random.default_rng(0)
    layer = Convolutional(shape, k, depth, padding=padding, bias="channel")
    x = rng.standard_normal((100, *shape)).astype(np.float32)  # 4 blocks of 32, the last cut
    g = rng.standard_normal((100, *layer.out_shape)).astype(np.float32)
    use_threads(1)
    one = _conv_pass(layer, x, g)
    use_threads(2)
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


def test_convolution_inference_on_two_threads_matches_one(use_threads) -> None:
    rng = np.random.default_rng(1)
    layer = Convolutional((6, 9, 9), 3, 4)
    x = rng.standard_normal((70, 6, 9, 9))
    use_threads(1)
    one = layer.forward(x)
    use_threads(2)
    np.testing.assert_array_equal(layer.forward(x), one)


@pytest.mark.parametrize("training", [True, False])
def test_pooling_on_two_threads_matches_one(use_threads, training: bool) -> None:
    rng = np.random.default_rng(2)
    # rounded values: plenty of ties, which must still route to the first maximum
    x = np.round(rng.standard_normal((150, 3, 8, 8)), 1).astype(np.float32)
    g = rng.standard_normal((150, 3, 4, 4)).astype(np.float32)
    results = []
    for n in (1, 2):
        use_threads(n)
        layer = MaxPool2D(2)
        layer.build((3, 8, 8), rng, np.dtype(np.float32))
        results.append((layer.forward(x, training=training), layer.backward(g)))
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


# -------------------------------------------------------------- whole-batch replicas
def _lenet(dtype: str = "float64", dropout: float = 0.0) -> Sequential:
    layers = [
        Convolutional(kernel_size=3, depth=4, padding="same", bias="channel"),
        ReLU(),
        MaxPool2D(2),
        Convolutional(kernel_size=3, depth=6),
        ReLU(),
        Flatten(),
        Dense(output_size=16),
        ReLU(),
        Dropout(dropout),
        Dense(output_size=3),
        Softmax(),
    ]
    return Sequential(layers, input_shape=(1, 10, 10), dtype=dtype).build(seed=5)


def _data(n: int = 96) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return rng.random((n, 1, 10, 10)), rng.integers(0, 3, n)


def _fit(model: Sequential, x: np.ndarray, y: np.ndarray, batch: int = 64) -> list[np.ndarray]:
    model.fit(x, y, epochs=2, batch_size=batch, loss="categorical_crossentropy",
              optimizer="sgd", learning_rate=0.1, seed=9, verbose=0)  # fmt: skip
    return [p.copy() for layer in model.layers for p in layer.params.values()]


def test_replica_shares_parameters_not_gradients() -> None:
    layer = Dense(4, 3)
    twin = layer.replica()
    assert twin.params is layer.params and twin.state is layer.state
    assert twin.grads is not layer.grads and twin.grads["weights"] is not layer.grads["weights"]
    x = np.random.default_rng(0).random((5, 4)).astype(np.float32)
    np.testing.assert_array_equal(twin.forward(x), layer.forward(x))
    twin.backward(np.ones((5, 3), np.float32))
    assert not layer.grads["weights"].any() and twin.grads["weights"].any()
    layer.params["weights"] += 1  # an optimizer step shows in the twin
    np.testing.assert_array_equal(twin.forward(x), layer.forward(x))


def test_split_batch_gives_the_whole_batch_gradients(use_threads) -> None:
    use_threads(2)
    model = _lenet()
    x, y = _data(64)
    target = np.eye(3)[y]
    serial_out = model.forward(x, training=True)
    grad = (serial_out - target) / 64
    model.zero_grad()
    model.backward(grad, start=len(model.layers) - 1)
    serial = [g.copy() for layer in model.layers for g in layer.grads.values()]
    model.zero_grad()
    replicas = Replicas(model.layers, 2)
    out = replicas.forward(x, training=True)
    assert len(replicas.bounds) == 2 and replicas.bounds[0] == (0, 32)
    np.testing.assert_allclose(out, serial_out, rtol=1e-12)
    replicas.backward((out - target) / 64, start=len(model.layers) - 1)
    split = [g.copy() for layer in model.layers for g in layer.grads.values()]
    for a, b in zip(serial, split, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)
    # the twins were emptied into the model
    assert all(
        not g.any() for chain in replicas.chains[1:] for t in chain for g in t.grads.values()
    )


def test_fit_on_two_threads_matches_one(use_threads) -> None:
    x, y = _data()
    use_threads(1)
    one = _fit(_lenet(), x, y)
    use_threads(2)
    two = _fit(_lenet(), x, y)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert not all(np.array_equal(a, b) for a, b in zip(one, two))  # the split really ran


def test_fit_on_two_threads_is_reproducible_with_dropout(use_threads) -> None:
    use_threads(2)
    x, y = _data()
    first = _fit(_lenet("float32", dropout=0.3), x, y)
    second = _fit(_lenet("float32", dropout=0.3), x, y)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_small_batches_are_not_split(use_threads) -> None:
    use_threads(2)
    model = _lenet()
    replicas = Replicas(model.layers, 2)
    x, _ = _data(2 * MIN_PART - 1)
    replicas.forward(x, training=False)
    assert replicas.bounds == [(0, 2 * MIN_PART - 1)]


def test_predict_on_two_threads_matches_one(use_threads) -> None:
    model = _lenet()
    x, _ = _data(300)
    use_threads(1)
    one = model.predict(x, batch_size=128)
    use_threads(2)
    np.testing.assert_allclose(model.predict(x, batch_size=128), one, rtol=1e-12)


@attrs.define(eq=False)
class BatchCounter(Layer):
    """Identity that records the batch sizes it sees; batch-dependent unless told otherwise."""

    key = "test.BatchCounter.v1"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.seen = [*getattr(self, "seen", []), len(x)]
        return x

    def _backward(self, output_gradient: np.ndarray) -> np.ndarray:
        return output_gradient


@attrs.define(eq=False)
class IndependentCounter(BatchCounter):
    key = "test.IndependentCounter.v1"
    samples_independent = True

    def forward_macs(self) -> int:
        """Declared work: as much per sample as a convolution, so the tiny models of these
        tests split like real ones (``host.min_part``)."""
        return 10**6


def _fit_in_batches_of_64(layer: Layer, samples: int = 64) -> None:
    """Train Flatten -> ``layer`` -> Dense for one epoch in batches of 64."""
    model = Sequential([Flatten(), layer, Dense(output_size=2)], input_shape=(3,))
    model.build(seed=0)
    x = np.random.default_rng(0).random((samples, 3))
    model.fit(x, x[:, :2], epochs=1, batch_size=64, loss="mse", verbose=0, seed=0)


@attrs.define(eq=False)
class ThreadProbe(IndependentCounter):
    """Identity that records how many threads its forward and backward may use."""

    key = "test.ThreadProbe.v1"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.available = [*getattr(self, "available", []), threads.available()]
        return x

    def _backward(self, output_gradient: np.ndarray) -> np.ndarray:
        self.available = [*getattr(self, "available", []), threads.available()]
        return output_gradient


@attrs.define(eq=False)
class BlasProbe(IndependentCounter):
    """Outputs the BLAS thread count of the process its forward runs in."""

    key = "test.BlasProbe.v1"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        counts = blas.thread_counts()
        return np.full_like(x, counts[0] if counts else 0)


@pytest.mark.parametrize(
    ("cores", "parts", "processes", "expected"),
    [
        (2, 2, True, 1),  # this host: no core idle
        (8, 4, True, 2),
        (8, 3, True, 2),  # 2 cores stay idle: parts keep equal shares
        (64, 4, True, 16),
        (64, 4, False, 1),  # threads share one OpenBLAS pool: one BLAS thread each
        (64, 1, True, 1),  # unsplit: nnf leaves BLAS alone
    ],
)
def test_idle_cores_go_to_blas_only_in_separate_processes(cores, parts, processes, expected):
    assert host.blas_per_part(cores, parts, processes) == expected
    assert host.blas_per_part(cores, parts, processes) * parts <= max(cores, parts)


@pytest.mark.skipif(CPUS < 2, reason="needs two CPUs")
@pytest.mark.parametrize("processes", [True, False])
def test_every_part_runs_its_share_of_blas_threads(use_threads, processes) -> None:
    # 4 (fake) cores, a batch of 32 in parts of 16: 2 parts, 2 cores left for BLAS in each
    # worker process; parts on threads leave BLAS as the section set it (here: the fixture's
    # OPENBLAS_NUM_THREADS=1 tells nnf it is limited already, so it is not touched)
    if not blas.thread_counts():
        pytest.skip("no BLAS nnf can set in this process")
    use_threads(4)
    model = Sequential([Flatten(), BlasProbe()], input_shape=(3,)).build(seed=0)
    before = blas.thread_counts()
    expected = 2 if processes else before[0]
    with data_parallel(model.layers, 32, processes=processes) as runner:
        assert runner is not None and runner.parts == 2
        out = runner.forward(np.zeros((32, 3), np.float32), training=processes)
        # between steps (a validation predict splits over threads) the parent's is as it was
        assert blas.thread_counts() == before
    assert out.shape == (32, 3) and set(out[:, 0].tolist()) == {expected}  # both parts
    assert blas.thread_counts() == before  # the parent's count restored


@pytest.mark.skipif(CPUS < 2, reason="needs two CPUs")
@pytest.mark.parametrize("mode", ["processes", "threads"])
def test_a_part_runs_no_threads_inside_its_layers(monkeypatch, use_threads, mode: str) -> None:
    # part 0 runs on the model's own layers while part 1 runs elsewhere: threads inside its
    # layers (a convolution's blocks) would take the other part's core
    monkeypatch.setenv("NNF_PARALLEL", mode)
    use_threads(2)
    probe = ThreadProbe()
    _fit_in_batches_of_64(probe, samples=80)
    # the split batch: forward and backward each one part; the last 16 samples are not
    # split, so its layers may use both threads themselves
    assert probe.available == [1, 1, 2, 2]


@pytest.mark.skipif(CPUS < 2, reason="needs two CPUs")
@pytest.mark.parametrize(("cls", "expected"), [(BatchCounter, [64]), (IndependentCounter, [32])])
def test_only_samples_independent_models_are_split(use_threads, cls, expected) -> None:
    use_threads(2)
    counter = cls()
    _fit_in_batches_of_64(counter)
    assert counter.seen == expected  # the model's own layer runs part 0 only when split


@attrs.define(eq=False)
class BatchThreadProbe(ThreadProbe):
    """ThreadProbe that mixes samples (a BatchNorm's place): its model is never split."""

    key = "test.BatchThreadProbe.v1"
    samples_independent = False


@pytest.mark.skipif(CPUS < 2, reason="needs two CPUs")
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_an_unsplit_model_runs_threads_inside_its_layers_with_blas_on_one(
    monkeypatch, use_threads
) -> None:
    # No split (the batch must stay whole), but a convolution may still split its own blocks,
    # with BLAS on one thread inside fit and given back after.
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    use_threads(2)
    probe = BatchThreadProbe()
    saved = blas.limit_threads(3)
    try:
        seen = []
        probe.forward = lambda x, training=False: (seen.append(blas.thread_counts()), x)[1]
        _fit_in_batches_of_64(probe)
        assert seen == [[1] * len(saved)]
        assert blas.thread_counts() == [3] * len(saved)
        del probe.forward
        probe.available = []
        _fit_in_batches_of_64(probe)
        assert probe.available == [2, 2]  # forward and backward of the one whole batch
    finally:
        blas.restore_threads(saved)


def test_data_parallel_only_for_batches_worth_splitting(use_threads) -> None:
    use_threads(2)
    layers = _lenet().layers
    with data_parallel(layers, 2 * MIN_PART - 1) as replicas:
        assert replicas is None
    with data_parallel(layers, 2 * MIN_PART) as replicas:
        assert replicas is not None and replicas.parts == 2
    with data_parallel([*layers[:-1], BatchCounter()], 2 * MIN_PART) as replicas:
        assert replicas is None  # one layer looks across the batch
    use_threads(1)
    with data_parallel(layers, 2 * MIN_PART) as replicas:
        assert replicas is None


def test_models_with_many_weights_per_sample_need_larger_parts(use_threads) -> None:
    # one big product (OpenBLAS threads it well) and many weights to copy and sum per step
    use_threads(2)
    model = Sequential([Dense(output_size=100)], input_shape=(4096,)).build(seed=0)
    least = min_part(model.layers)
    assert least == WORK_PER_WEIGHT > MIN_PART  # each weight once per sample
    with data_parallel(model.layers, 2 * least - 1) as replicas:
        assert replicas is None
    with data_parallel(model.layers, 2 * least) as replicas:
        assert replicas is not None and replicas.least == least


# ------------------------------------------------------------------- worker processes
LINUX = sys.platform.startswith("linux")


def _memory_owner(a: np.ndarray) -> object:
    base: object = a
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    return base.obj if isinstance(base, memoryview) else base


def _no_children_left() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


@pytest.mark.parametrize("mode", ["processes", "threads"])
def test_fit_split_modes_match_one_thread(monkeypatch, use_threads, mode: str) -> None:
    x, y = _data()
    use_threads(1)
    one = _fit(_lenet(), x, y)
    use_threads(2)
    monkeypatch.setenv("NNF_PARALLEL", mode)
    split = _fit(_lenet(), x, y)
    for a, b in zip(one, split, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.skipif(not LINUX, reason="worker processes need fork")
def test_workers_train_the_callers_own_arrays_and_leave_no_process(use_threads) -> None:
    use_threads(2)
    model = _lenet()
    before = [p for layer in model.layers for p in layer.params.values()]
    copies = [p.copy() for p in before]
    with data_parallel(model.layers, 64, processes=True) as replicas:
        assert isinstance(replicas, ProcessReplicas) and replicas.parts == 2
        shared = replicas._sources[0][1]  # what the workers compute with
        assert isinstance(_memory_owner(shared), mmap.mmap)
        with data_parallel(model.layers, 64, processes=True) as inner:
            assert isinstance(inner, Replicas)  # evaluate inside fit: threads
    x, y = _data()
    _fit(model, x, y)
    after = [p for layer in model.layers for p in layer.params.values()]
    assert all(a is b for a, b in zip(before, after))  # the same array objects ...
    assert any(not np.array_equal(a, c) for a, c in zip(after, copies))  # ... trained
    assert all(not isinstance(_memory_owner(p), mmap.mmap) for p in after)
    assert _no_children_left()


class EditWeightsDuringFit:
    """Callbacks as users write them: a max-norm constraint clipping, in place, the weight
    array it was given before ``fit``; after the first epoch, new arrays put into params."""

    def __init__(self, model: Sequential) -> None:
        self.model = model
        self.held = model.layers[6].params["weights"]  # a Dense layer's, taken before fit
        self.given: dict[str, np.ndarray] = {}

    def on_batch_end(self, batch, num_batches, logs) -> None:
        np.clip(self.held, -0.05, 0.05, out=self.held)

    def on_epoch_end(self, epoch, logs, model) -> None:
        if epoch == 0:
            dense = model.layers[9]
            for k, p in dense.params.items():
                self.given[k] = dense.params[k] = np.full_like(p, 0.01)


@pytest.mark.skipif(not LINUX, reason="worker processes need fork")
def test_weights_edited_during_fit_reach_the_workers(monkeypatch, use_threads) -> None:
    x, y = _data(128)
    results = {}
    for n in (1, 2):
        use_threads(n)
        monkeypatch.setenv("NNF_PARALLEL", "processes")
        model = _lenet()
        callback = EditWeightsDuringFit(model)
        model.fit(x, y, epochs=3, batch_size=64, loss="categorical_crossentropy",
                  optimizer="sgd", learning_rate=0.5, seed=9, verbose=0,
                  callbacks=[callback])  # fmt: skip
        assert model.layers[6].params["weights"] is callback.held  # the array edited ...
        assert np.abs(callback.held).max() <= 0.05  # ... is the one trained
        for k, given in callback.given.items():  # the arrays put in, trained on
            assert model.layers[9].params[k] is given and not np.all(given == 0.01)
        results[n] = [p.copy() for layer in model.layers for p in layer.params.values()]
    for a, b in zip(results[1], results[2], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@attrs.define(eq=False)
class CachedScale(Layer):
    """y = x * w, with w cached outside ``params`` at build time and re-derived by replica()."""

    key = "test.CachedScale.v1"
    samples_independent = True

    def _build(self, input_shape, rng, dtype):
        self.params["w"] = (1 + 0.1 * rng.standard_normal(input_shape)).astype(dtype)
        self.w = self.params["w"]
        return input_shape

    def replica(self) -> Layer:
        twin = super().replica()
        twin.w = twin.params["w"]  # the docs' rule: re-derive cached references here
        return twin

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.input = x
        return x * self.w

    def _backward(self, output_gradient: np.ndarray) -> np.ndarray:
        self.grads["w"] += (output_gradient * self.input).sum(axis=0)
        return output_gradient * self.w


@pytest.mark.skipif(not LINUX, reason="worker processes need fork")
def test_a_layer_caching_its_weights_trains_the_same_in_workers(monkeypatch, use_threads) -> None:
    x = np.random.default_rng(1).random((256, 4))
    losses = {}
    for mode, n in (("one", 1), ("processes", 2)):
        use_threads(n)
        monkeypatch.setenv("NNF_PARALLEL", "processes")
        model = Sequential([CachedScale(), Dense(output_size=2)], input_shape=(4,)).build(seed=0)
        history = model.fit(
            x, x[:, :2], epochs=3, batch_size=64, loss="mse", optimizer="sgd",
            learning_rate=0.5, verbose=0, seed=0,
        )  # fmt: skip
        losses[mode] = history["loss"]
    assert losses["one"][-1] < losses["one"][0]  # it learns ...
    np.testing.assert_allclose(losses["processes"], losses["one"], rtol=1e-9)  # ... in workers too


@pytest.mark.skipif(not LINUX, reason="worker processes need fork")
def test_huge_seeds_large_batches_and_no_stdout(monkeypatch, use_threads) -> None:
    use_threads(2)
    x, y = _data(128)
    monkeypatch.setattr(sys, "stdout", None)  # e.g. started with >&-
    model = _lenet(dropout=0.2)
    model.fit(x, y, epochs=1, batch_size=10**8, loss="categorical_crossentropy", verbose=0,
              seed=2**70)  # fmt: skip
    assert model.training_state["seed"] == 2**70 and _no_children_left()


def test_fd_numbers_above_select_limit(use_threads) -> None:
    import resource
    import threading

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip("cannot open a file descriptor above 1024 here")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    r, w = os.pipe()
    high = os.dup2(r, 1100)
    os.close(r)
    try:
        os.set_blocking(high, False)
        threading.Timer(0.05, lambda: os.write(w, b"hello")).start()
        assert workers._read_exact(high, 5, spin=0.0) == b"hello"  # sleeps in poll, not select
    finally:
        os.close(high)
        os.close(w)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_default_threads_follow_the_affinity_mask(monkeypatch, use_threads) -> None:
    use_threads(None)
    monkeypatch.delenv("NNF_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert threads.thread_count() == 1  # e.g. under taskset -c 0


def test_only_one_block_at_a_time_starts_workers(use_threads) -> None:
    import threading

    use_threads(2)
    layers = _lenet().layers
    seen = []

    def other_fit() -> None:
        with data_parallel(layers, 64, processes=True) as replicas:
            seen.append(type(replicas))

    with data_parallel(layers, 64, processes=True) as outer:
        worker = threading.Thread(target=other_fit)
        worker.start()
        worker.join()
    assert isinstance(outer, ProcessReplicas if LINUX else Replicas) and seen == [Replicas]
    assert threads._sections == 0  # every block closed: BLAS back to its own setting


@attrs.define(eq=False)
class FailsInWorker(IndependentCounter):
    key = "test.FailsInWorker.v1"
    how: str = "raise"

    def replica(self) -> Layer:
        if workers._in_worker and self.how == "start":
            raise ValueError("no twin in the worker")
        return super().replica()

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if workers._in_worker:
            if self.how == "exit":
                os._exit(3)
            raise ValueError("boom in the worker")
        return x


@pytest.mark.skipif(not LINUX, reason="worker processes need fork")
@pytest.mark.parametrize(
    ("how", "message"),
    [("raise", "boom in the worker"), ("exit", "died"), ("start", "no twin in the worker")],
)
def test_a_failing_worker_is_a_training_error(use_threads, how: str, message: str) -> None:
    use_threads(2)
    model = Sequential([Flatten(), FailsInWorker(how=how), Dense(output_size=2)], input_shape=(3,))
    model.build(seed=0)
    weights = model.layers[2].params["weights"]
    x = np.random.default_rng(0).random((64, 3))
    with pytest.raises(TrainingError, match=message):
        model.fit(x, x[:, :2], epochs=1, batch_size=64, loss="mse", verbose=0, seed=0)
    assert model.layers[2].params["weights"] is weights
    assert _no_children_left()


@pytest.mark.skipif(not LINUX, reason="worker processes need fork")
def test_a_worker_killed_between_steps_is_a_training_error(use_threads) -> None:
    import signal

    use_threads(2)

    class KillWorker:
        def on_batch_end(self, batch, num_batches, logs) -> None:
            if batch == 1:
                for task in os.listdir("/proc/self/task"):
                    with open(f"/proc/self/task/{task}/children") as f:
                        for pid in f.read().split():
                            os.kill(int(pid), signal.SIGKILL)
                time.sleep(0.2)

    x, y = _data(256)
    with pytest.raises(TrainingError, match="died"):
        _lenet().fit(x, y, epochs=1, batch_size=64, loss="categorical_crossentropy",
                     verbose=0, seed=0, callbacks=[KillWorker()])  # fmt: skip
    assert _no_children_left()


def test_bad_parallel_setting_is_a_config_error(monkeypatch, use_threads) -> None:
    use_threads(2)
    monkeypatch.setenv("NNF_PARALLEL", "gpu")
    with pytest.raises(ConfigError, match="NNF_PARALLEL"):
        with data_parallel(_lenet().layers, 64, processes=True):
            pass
