"""The plugin's own tests: nnf's conformance kit, then what the kit cannot know."""

from __future__ import annotations

import nnf
import numpy as np
import pytest
from nnf.testing import check_layer
from nnf_example_plugin import BatchNorm, Swish


@pytest.mark.parametrize(
    ("config", "input_shape"),
    [({}, (4,)), ({"momentum": 0.5}, (3, 4, 4)), ({"epsilon": 1e-3}, (5, 1))],
)
def test_batchnorm_passes_the_conformance_kit(config, input_shape):
    report = check_layer(BatchNorm, config, input_shape, batch_size=4)
    assert report.figures["modes.state_updated_in_training"] == 1.0


@pytest.mark.parametrize(("config", "input_shape"), [({}, (6,)), ({"beta": 1.7}, (2, 3, 3))])
def test_swish_passes_the_conformance_kit(config, input_shape):
    check_layer(Swish, config, input_shape)


def test_batchnorm_normalises_with_batch_statistics_while_training():
    layer = BatchNorm()
    layer.build((3,), dtype="float64")
    x = np.random.default_rng(0).normal(5.0, 3.0, size=(64, 3))
    y = layer.forward(x, training=True)
    assert np.allclose(y.mean(axis=0), 0, atol=1e-12)
    assert np.allclose(y.std(axis=0), 1, atol=1e-3)
    assert np.allclose(layer.state["running_mean"], 0.1 * x.mean(axis=0))


def test_batchnorm_uses_running_statistics_in_inference():
    layer = BatchNorm(momentum=0.0)  # running stats = the last batch's
    layer.build((2,), dtype="float64")
    x = np.random.default_rng(1).normal(2.0, 0.5, size=(32, 2))
    layer.forward(x, training=True)
    one = layer.forward(x[:1], training=False)
    expected = (x[:1] - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + layer.epsilon)
    assert np.allclose(one, expected)


def test_swish_is_x_times_sigmoid():
    x = np.linspace(-30, 30, 13)
    layer = Swish(beta=2.0)
    layer.build((13,), dtype="float64")
    y = layer.forward(x[None])[0]
    assert np.allclose(y, x / (1 + np.exp(-2.0 * x)), rtol=1e-12, atol=1e-15)


def test_a_model_with_both_layers_trains():
    model = nnf.Sequential(
        [nnf.layers.get("nnf.Dense.v1")(output_size=8), BatchNorm(), Swish()],
        input_shape=(4,),
    )
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = np.tanh(x @ rng.standard_normal((4, 8))).astype(np.float32)
    history = model.fit(x, y, epochs=5, loss="mse", learning_rate=0.01, seed=0, verbose=0)
    assert history["loss"][-1] < history["loss"][0]
