"""Every built-in layer: found through the registry, configs round-trip through JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
from nnf.errors import ConfigError
from nnf.registry import REGISTRY

BUILTIN_KEYS = [
    "nnf.Convolutional.v1",
    "nnf.Dense.v1",
    "nnf.Dropout.v1",
    "nnf.Flatten.v1",
    "nnf.LeakyReLU.v1",
    "nnf.MaxPool2D.v1",
    "nnf.ReLU.v1",
    "nnf.Reshape.v1",
    "nnf.Sigmoid.v1",
    "nnf.Softmax.v1",
    "nnf.Tanh.v1",
]

CONFIGS = [
    ("Dense", {"input_size": 784, "output_size": 100}),
    ("Dense", {"output_size": 10, "init": "he"}),
    ("Convolutional", {"input_shape": (1, 28, 28), "kernel_size": 3, "depth": 5}),
    (
        "Convolutional",
        {
            "kernel_size": 4,
            "depth": 8,
            "stride": 2,
            "padding": "same",
            "bias": "channel",
            "init": "normal",
        },
    ),
    ("Reshape", {"input_shape": (5, 26, 26), "output_shape": (3380, 1)}),
    ("Flatten", {}),
    ("Tanh", {}),
    ("Sigmoid", {}),
    ("ReLU", {}),
    ("LeakyReLU", {"alpha": 0.2}),
    ("Softmax", {}),
    ("MaxPool2D", {"pool_size": 3, "stride": 2}),
    ("MaxPool2D", {}),
    ("Dropout", {"rate": 0.25}),
]


def test_all_builtin_keys_load() -> None:
    entries = {e.key: e for e in REGISTRY.check() if e.builtin}
    for key in BUILTIN_KEYS:
        assert key in entries, f"{key} is not registered"
        assert entries[key].status == "ok", f"{key}: {entries[key].cause}"
        cls = entries[key].cls
        assert cls.key == key and cls.__module__.startswith("nnf_layers.")


def test_short_names_resolve_to_the_builtin_classes() -> None:
    from nnf.layers import Dense, MaxPool2D, Softmax
    from nnf_layers.dense import Dense as BuiltinDense
    from nnf_layers.pooling import MaxPool2D as BuiltinPool
    from nnf_layers.softmax import Softmax as BuiltinSoftmax

    assert Dense is BuiltinDense and MaxPool2D is BuiltinPool and Softmax is BuiltinSoftmax


@pytest.mark.parametrize(("name", "config"), CONFIGS, ids=lambda v: str(v))
def test_config_round_trips_exactly_and_is_json_safe(name, config) -> None:
    cls = REGISTRY.get(name)
    layer = cls(**config)
    cfg = layer.get_config()
    assert json.loads(json.dumps(cfg)) == cfg
    again = type(layer).from_config(json.loads(json.dumps(cfg)))
    assert again.get_config() == cfg
    assert type(again) is type(layer)
    if layer.built:  # tutorial forms build again, with the same shapes
        assert again.in_shape == layer.in_shape and again.out_shape == layer.out_shape


def test_unknown_options_are_config_errors() -> None:
    cls = REGISTRY.get("Dense")
    with pytest.raises(ConfigError, match="no option 'units'"):
        cls.from_config({"units": 3})
    with pytest.raises(ConfigError, match="padding"):
        REGISTRY.get("Convolutional").from_config({"kernel_size": 3, "depth": 2, "padding": "x"})


@pytest.mark.parametrize(("name", "config"), CONFIGS, ids=lambda v: str(v))
def test_cast_to_float64_and_back(name, config) -> None:
    layer = REGISTRY.get(name)(**config)
    if not layer.built:
        return
    layer.cast("float64")
    assert all(p.dtype == np.float64 for p in layer.params.values())
    layer.cast("float32")
    assert all(g.dtype == np.float32 for g in layer.grads.values())


PARAMETER_FREE = [
    ("Reshape", {"input_shape": (2, 3), "output_shape": (6,)}),
    ("Flatten", {}),
    ("Tanh", {}),
    ("Sigmoid", {}),
    ("ReLU", {}),
    ("LeakyReLU", {}),
    ("Softmax", {}),
    ("MaxPool2D", {}),
    ("Dropout", {}),
]


@pytest.mark.parametrize(("name", "config"), PARAMETER_FREE, ids=lambda v: str(v))
def test_parameter_free_layers_ignore_the_learning_rate(name, config) -> None:
    layer = REGISTRY.get(name)(**config)
    x = np.random.default_rng(0).standard_normal((4, 2, 3) if name == "Reshape" else (4, 2, 4, 6))
    y = layer.forward(x, training=True)
    g = np.random.default_rng(1).standard_normal(y.shape)
    np.testing.assert_array_equal(layer.backward(g, 0.1), layer.backward(g))
    assert layer.num_params == 0 and layer.get_config() == type(layer)(**config).get_config()
