"""Safe to embed: threads sharing one model, fit against predict, contract-1 layers."""

from __future__ import annotations

import threading
from pathlib import Path

import attrs
import numpy as np
import pytest
from nnf import Layer, Sequential
from nnf.errors import ConcurrentUseError
from nnf.layers import Dense, Softmax
from nnf.spec import build_model
from nnf.testing import LayerCheckError, check_layer

SPECS = Path(__file__).resolve().parents[1] / "examples" / "specs"
# A call from a host thread runs unsplit where a serial call splits over nnf's threads, and
# some BLAS kernels (OpenBLAS's Haswell ones) round a row differently with other rows beside
# it: results agree to float32 rounding. Another call's data trampling a buffer would be far
# outside this.
ROUNDING = 1e-5
BATCHES = (1, 3, 16, 17, 33, 64, 100, 7, 32, 5, 2, 50, 31, 9, 64, 1, 40, 12, 8, 24)


def run_threads(fn, count: int = 8) -> list:
    """``fn(i)`` on ``count`` threads started together; their results, or re-raised errors."""
    results: list = [None] * count
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def target(i: int) -> None:
        try:
            start.wait()
            results[i] = fn(i)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]
    return results


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 1, 28, 28)).astype(np.float32)


@pytest.mark.parametrize("spec", ["lenet5", "tutorial_cnn"])
def test_eight_threads_predicting_on_one_model_get_the_serial_results(spec: str) -> None:
    model = build_model(SPECS / f"{spec}.toml", seed=0)
    x = images(max(BATCHES) * 2)
    # each thread its own sequence of 20 batch sizes and offsets
    calls = [[(BATCHES[(i + j) % 20], (3 * i + j) % 50) for j in range(20)] for i in range(8)]
    serial = {(n, a): model.predict(x[a : a + n]) for call in calls for n, a in call}
    results = run_threads(lambda i: [model.predict(x[a : a + n]) for n, a in calls[i]])
    wrong = sum(
        not np.allclose(out, serial[key], rtol=ROUNDING, atol=1e-7)
        for call, outs in zip(calls, results)
        for key, out in zip(call, outs)
    )
    assert wrong == 0, f"{wrong} of 160 results differ from the serial ones"
    # predict keeps nothing on the layers after the call
    assert all(not vars(layer._kept) for layer in model.layers)


@pytest.mark.parametrize("spec", ["lenet5", "tutorial_cnn"])
def test_eight_threads_evaluating_on_one_model_get_the_serial_results(spec: str) -> None:
    model = build_model(SPECS / f"{spec}.toml", seed=0)
    x = images(150, seed=1)
    y = np.random.default_rng(2).integers(0, 10 if spec == "lenet5" else 2, 150)
    calls = [[BATCHES[(i + j) % 20] for j in range(20)] for i in range(8)]
    loss = "categorical_crossentropy"
    serial = {n: model.evaluate(x[: n + 10], y[: n + 10], loss=loss) for n in set(BATCHES)}
    results = run_threads(
        lambda i: [model.evaluate(x[: n + 10], y[: n + 10], loss=loss) for n in calls[i]]
    )
    for call, outs in zip(calls, results):
        for n, out in zip(call, outs):
            assert out == pytest.approx(serial[n], rel=ROUNDING, abs=1e-7)


def small_model() -> Sequential:
    return Sequential([Dense(output_size=8), Dense(output_size=3), Softmax()], input_shape=(4,))


def test_fit_while_another_thread_predicts_raises_a_clear_error() -> None:
    model = small_model().build(seed=0)
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with model._inference():  # a predict in progress
            inside.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        inside.wait(10)
        x, y = np.ones((8, 4)), np.zeros(8, dtype=int)
        with pytest.raises(ConcurrentUseError, match="another thread predicts with"):
            model.fit(x, y, loss="cce", verbose=0)
    finally:
        release.set()
        holder.join()
    model.fit(x, y, loss="cce", verbose=0)  # and works once it is done


def test_predict_while_another_thread_trains_raises_a_clear_error() -> None:
    model = small_model().build(seed=0)
    x, y = np.random.default_rng(0).random((64, 4)), np.zeros(64, dtype=int)
    seen: list[BaseException] = []

    class PredictFromAnotherThread:
        def on_batch_end(self, batch: int, num_batches: int, logs: dict) -> None:
            if batch == 0:
                t = threading.Thread(target=self.predict)
                t.start()
                t.join()

        def predict(self) -> None:
            try:
                model.predict(x)
            except ConcurrentUseError as exc:
                seen.append(exc)

    model.fit(x, y, loss="cce", verbose=0, callbacks=[PredictFromAnotherThread()])
    assert len(seen) == 1 and "being trained by another thread" in str(seen[0])
    model.predict(x)  # fine after fit
    model.fit(x, y, loss="cce", verbose=0, validation_split=0.25)  # its own evaluate is fine


@attrs.define(eq=False)
class OldStyleScale(Layer):
    """A contract-1 layer: no ``keeps``, a work buffer and per-call state on ``self``."""

    key = "tests.OldStyleScale.v1"
    samples_independent = True

    def _build(self, input_shape, rng, dtype):
        self.params = {"w": np.full(input_shape, 2.0, dtype=dtype)}
        return input_shape

    def forward(self, x, training=False):
        self._buffer = (
            np.multiply(x, self.params["w"], out=getattr(self, "_buffer", None))
            if (getattr(self, "_buffer", None) is not None and self._buffer.shape == x.shape)
            else x * self.params["w"]
        )
        for _ in range(20):  # widen the window in which another thread could write the buffer
            self._buffer += 0.0
        self.input = x
        return self._buffer.copy()

    def _backward(self, output_gradient):
        self.grads["w"] += (output_gradient * self.input).sum(axis=0)
        return output_gradient * self.params["w"]


def test_a_contract_1_layer_still_gives_right_answers_under_threads() -> None:
    model = Sequential([OldStyleScale(), Dense(output_size=2)], input_shape=(5,)).build(seed=0)
    x = np.random.default_rng(0).random((64, 5)).astype(np.float32)
    sizes = [1 + (i * 7) % 60 for i in range(20)]
    serial = [model.predict(x[:n]) for n in sizes]
    results = run_threads(lambda i: [model.predict(x[: sizes[(i + j) % 20]]) for j in range(20)])
    for i, outs in enumerate(results):
        for j, out in enumerate(outs):
            np.testing.assert_array_equal(out, serial[(i + j) % 20])


def test_a_contract_1_layer_evaluates_under_threads() -> None:
    model = Sequential([OldStyleScale(), Dense(output_size=2), Softmax()], input_shape=(5,))
    model.build(seed=0)
    x = np.random.default_rng(0).random((40, 5)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 2, 40)
    serial = model.evaluate(x, y, loss="cce")
    results = run_threads(lambda i: [model.evaluate(x, y, loss="cce") for _ in range(5)], 4)
    assert all(r == serial for rs in results for r in rs)


def test_the_kit_tells_a_contract_1_author_what_to_change() -> None:
    with pytest.raises(LayerCheckError, match="does not declare keeps"):
        check_layer(OldStyleScale, {}, input_shape=(5,), skip=("naming", "save_load"))


def test_kept_attributes_are_per_thread_and_missing_ones_say_why() -> None:
    layer = Dense(3, 2)
    layer.forward(np.ones((1, 3)))
    seen: list[str] = []

    def other() -> None:
        try:
            layer.backward(np.ones((1, 2)))
        except AttributeError as exc:
            seen.append(str(exc))

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen and "call forward before backward, on the same thread" in seen[0]
    assert layer.backward(np.ones((1, 2))).shape == (1, 3)  # this thread's input is kept
