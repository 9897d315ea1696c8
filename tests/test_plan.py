"""nnf.parallel.plan: a ReLU runs after the max pooling that follows it, with the same results."""

from __future__ import annotations

import threading

import attrs
import nnf
import numpy as np
import pytest
from model_gradcheck import central_difference
from nnf import model as model_module
from nnf import parallel, training
from nnf.layers import (
    Convolutional,
    Dense,
    Dropout,
    Flatten,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Softmax,
)
from nnf.parallel import plan, threads


def names(layers) -> list[str]:
    return [type(layer).__name__ for layer in layers]


def as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every model in the order its layers were written in (no reordering)."""
    monkeypatch.setattr(model_module, "execution_order", list)
    monkeypatch.setattr(training, "execution_order", list)


def test_relu_moves_after_the_max_pooling_that_follows_it() -> None:
    layers = [
        Convolutional(kernel_size=3, depth=2),
        ReLU(),
        MaxPool2D(2),
        Flatten(),
        Dense(output_size=2),
    ]
    order = plan.execution_order(layers)
    assert names(order) == ["Convolutional", "MaxPool2D", "ReLU", "Flatten", "Dense"]
    assert names(layers)[1:3] == ["ReLU", "MaxPool2D"]  # the given list is left alone
    chain = [ReLU(), ReLU(), MaxPool2D(2), MaxPool2D(2), Dense(output_size=2)]
    assert names(plan.execution_order(chain)) == [
        "MaxPool2D",
        "MaxPool2D",
        "ReLU",
        "ReLU",
        "Dense",
    ]


@pytest.mark.parametrize("layer", [Sigmoid(), LeakyReLU(0.1), Dropout(0.5), Flatten()])
def test_layers_that_do_not_claim_to_commute_stay_in_place(layer) -> None:
    layers = [layer, MaxPool2D(2), ReLU()]
    assert plan.execution_order(layers) == layers


@attrs.define(eq=False)
class Clamp(nnf.Layer):
    """A third-party element-wise layer, y = max(x, 0) like ReLU, that claims the flag."""

    key = "plantest.Clamp.v1"
    commutes_with_max = True

    def forward(self, x, training=False):
        self.input = np.asarray(x)
        return np.maximum(self.input, 0)

    def _backward(self, output_gradient):
        return output_gradient * (self.input > 0)


def test_any_layer_declaring_the_flags_is_moved() -> None:
    clamp = Clamp()
    assert plan.execution_order([clamp, MaxPool2D(2)])[1] is clamp


def lenet(dtype: str = "float64", end_with_pool: bool = False) -> nnf.Sequential:
    layers = [
        Convolutional(kernel_size=3, depth=4, padding="same", bias="channel"),
        ReLU(),
        MaxPool2D(2),
        Convolutional(kernel_size=3, depth=6, padding="same", bias="channel"),
        ReLU(),
        MaxPool2D(2),
    ]
    if not end_with_pool:
        layers += [Flatten(), Dense(output_size=8), ReLU(), Dense(output_size=3), Softmax()]
    return nnf.Sequential(layers, input_shape=(1, 12, 12), dtype=dtype).build(seed=1)


def images(n: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """Digits-like inputs: a zero background with a few bright pixels, so that many pooling
    windows tie at 0 after ReLU, and many hold only negative values before it."""
    rng = np.random.default_rng(4)
    x = np.where(rng.random((n, 1, 12, 12)) < 0.3, rng.random((n, 1, 12, 12)), 0.0)
    return x, rng.integers(0, 3, n)


def train(model: nnf.Sequential, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    model.fit(x, y, epochs=2, batch_size=32, loss="categorical_crossentropy",
              optimizer="sgd", learning_rate=0.2, seed=5, verbose=0)  # fmt: skip
    return [p.copy() for layer in model.layers for p in layer.params.values()]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_gives_the_same_weights_bit_for_bit(monkeypatch, dtype: str) -> None:
    x, y = images()
    with plan.unfused():  # fusion (tests/test_fusion.py) changes the rounding of sums
        moved = train(lenet(dtype), x, y)
    with monkeypatch.context() as patch:
        as_written(patch)
        written = train(lenet(dtype), x, y)
    for a, b in zip(moved, written, strict=True):
        np.testing.assert_array_equal(a, b)


def test_forward_and_backward_match_the_written_order(monkeypatch) -> None:
    x, _ = images(8)
    g = np.random.default_rng(2).standard_normal((8, 6, 3, 3))
    results = []
    for reorder in (True, False):
        with monkeypatch.context() as patch, plan.unfused():
            if not reorder:
                as_written(patch)
            model = lenet(end_with_pool=True)
            out = model.forward(x, training=True)
            model.zero_grad()
            dx = model.backward(g)
            grads = [grad.copy() for _, _, grad in model.named_parameters()]
            results.append((out, dx, grads))
    (out, dx, grads), (out_w, dx_w, grads_w) = results
    np.testing.assert_array_equal(out, out_w)
    np.testing.assert_array_equal(dx, dx_w)
    for a, b in zip(grads, grads_w, strict=True):
        np.testing.assert_array_equal(a, b)
    assert (out == 0).mean() > 0.2  # the inputs did exercise ReLU's flat part


def test_moved_layers_see_the_pooled_values() -> None:
    model = lenet()
    x, _ = images(4)
    model.forward(x)
    relu = model.layers[1]
    assert relu.input.shape == (4, 4, 6, 6)  # after MaxPool2D(2), not the conv's 12x12
    assert relu.out_shape == (4, 12, 12)  # the shapes it was built with are kept


def test_model_gradient_matches_central_differences() -> None:
    model = lenet()
    x, y = images(5)
    loss = nnf.losses.get_loss("categorical_crossentropy")
    x = x + np.random.default_rng(6).normal(0, 0.1, x.shape)  # no kinks at exactly 0
    model.zero_grad()
    model.backward(loss.gradient(y, model.forward(x)))
    conv = model.layers[3]
    p, g = conv.params["kernels"], conv.grads["kernels"]
    for i in list(np.ndindex(p.shape))[::7]:
        numeric = central_difference(model, loss, x, y, p, i)
        assert abs(g[i] - numeric) <= 1e-6 * max(1.0, abs(numeric)), i


def test_output_shape_skips_moved_element_wise_layers() -> None:
    model = lenet(end_with_pool=True)
    order = plan.execution_order(model.layers)
    assert type(order[-1]) is ReLU
    assert plan.output_shape(order) == model.output_shape == (6, 3, 3)
    assert plan.output_shape([model.layers[1]]) == (4, 12, 12)  # a ReLU alone: its own


def test_workers_train_a_model_ending_in_a_moved_relu(monkeypatch) -> None:
    """Worker processes size their output buffers from the model's output shape, which the
    moved ReLU (built for the pre-pooling shape) does not hold."""
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setattr(parallel, "MIN_PROCESS_SAMPLES", 0)
    monkeypatch.setattr(threads, "_threads", 2)
    monkeypatch.setattr(threads, "single_threaded", lambda: True)  # fork in pytest's process
    x, _ = images(64)
    model = lenet(end_with_pool=True)
    target = np.zeros((64, 6, 3, 3))
    model.fit(x, target, epochs=1, batch_size=64, loss="mse", seed=0, verbose=0)
    monkeypatch.setattr(threads, "_threads", 1)
    one = lenet(end_with_pool=True)
    one.fit(x, target, epochs=1, batch_size=64, loss="mse", seed=0, verbose=0)
    for (_, a, _), (_, b, _) in zip(model.named_parameters(), one.named_parameters()):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@attrs.define(eq=False)
class Both(nnf.Layer):
    """An identity claiming both flags (it may: it commutes with max and takes maxima of
    groups of one): two in a row must not swap forever."""

    key = "plantest.Both.v1"
    commutes_with_max = True
    takes_maxima = True

    def forward(self, x, training=False):
        return np.asarray(x)

    def _backward(self, output_gradient):
        return output_gradient


def order_within_seconds(layers, seconds: float = 5.0) -> list:
    """``execution_order(layers)``, failing (not hanging) if it does not end."""
    result = []
    worker = threading.Thread(
        target=lambda: result.append(plan.execution_order(layers)), daemon=True
    )
    worker.start()
    worker.join(seconds)
    assert result, "execution_order did not end"
    return result[0]


def test_a_layer_with_both_flags_ends_the_reordering() -> None:
    first, second, pool = Both(), Both(), MaxPool2D(2)
    assert order_within_seconds([first, second]) == [first, second]
    relu = ReLU()
    assert order_within_seconds([relu, first, pool]) == [pool, relu, first]
    assert order_within_seconds([first, pool, second]) == [pool, first, second]
