"""Built-in layers get nothing from the core that a third-party layer cannot declare too:
the fused softmax + cross-entropy is a layer attribute, the ONNX converters come through the
``nnf.onnx`` entry-point group, and the core names no built-in key."""

from __future__ import annotations

import re
import subprocess
from importlib import metadata
from pathlib import Path

import attrs
import nnf
import numpy as np
import pytest
from nnf.layers import Dense, Softmax
from nnf_layers.softmax import Softmax as BuiltinSoftmax

ROOT = Path(__file__).parents[1]
BACKWARD_CALLS: list[str] = []


@attrs.define(eq=False)
class ThirdPartySoftmax(BuiltinSoftmax):
    """A plugin's softmax: the built-in's maths, its own key, the same declared attributes.

    Its backward counts its calls: the fused path never runs it."""

    key = "acme.TestSoftmax.v1"
    fuses_with_cross_entropy = True
    default_loss = "categorical_crossentropy"

    def _backward(self, output_gradient):
        BACKWARD_CALLS.append(type(self).key)
        return super()._backward(output_gradient)


def _train(last: nnf.Layer) -> nnf.Sequential:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 6)).astype(np.float32)
    y = rng.integers(0, 3, size=96)
    model = nnf.Sequential([Dense(output_size=3), last], input_shape=(6,))
    model.fit(x, y, epochs=2, batch_size=16, loss="categorical_crossentropy", seed=1, verbose=0)
    return model


def test_a_third_party_softmax_declaring_the_attribute_gets_the_fused_gradient():
    BACKWARD_CALLS.clear()
    ours = _train(ThirdPartySoftmax())
    assert BACKWARD_CALLS == []  # fused: its backward is skipped
    builtin = _train(Softmax())
    for a, b in zip(ours.layers[0].params.values(), builtin.layers[0].params.values()):
        np.testing.assert_array_equal(a, b)  # the same training as the built-in, bit for bit


def test_a_third_party_softmax_declaring_the_attribute_gets_the_default_loss():
    x = np.random.default_rng(0).standard_normal((32, 6)).astype(np.float32)
    model = nnf.Sequential([Dense(output_size=3), ThirdPartySoftmax()], input_shape=(6,))
    model.fit(x, np.arange(32) % 3, epochs=1, batch_size=16, seed=0, verbose=0)  # no loss given
    assert (
        type(model.loss).__name__ == type(nnf.losses.get_loss("categorical_crossentropy")).__name__
    )


def test_without_the_attribute_the_layer_backward_runs():
    @attrs.define(eq=False)
    class PlainSoftmax(ThirdPartySoftmax):
        key = "acme.PlainSoftmax.v1"
        fuses_with_cross_entropy = False

    BACKWARD_CALLS.clear()
    plain = _train(PlainSoftmax())
    assert "acme.PlainSoftmax.v1" in BACKWARD_CALLS
    fused = _train(Softmax())  # same maths by another route: equal up to rounding
    np.testing.assert_allclose(
        plain.layers[0].params["weights"], fused.layers[0].params["weights"], atol=1e-5
    )


def test_the_builtin_softmax_declares_the_capability():
    assert Softmax.fuses_with_cross_entropy and not nnf.Layer.fuses_with_cross_entropy


def test_every_builtin_layer_has_an_onnx_entry_point_beside_it():
    layers = {ep.name: ep.value for ep in metadata.entry_points(group="nnf.layers")}
    builtin = {k for k in layers if k.startswith("nnf.")}
    converters = {
        ep.name: ep.value
        for ep in metadata.entry_points(group="nnf.onnx")
        if ep.name.startswith("nnf.")
    }
    assert set(converters) == builtin
    for key, value in converters.items():
        module = value.partition(":")[0]
        assert module.startswith("nnf_layers.onnx."), key  # beside the layers, not in the core
        assert callable(metadata.EntryPoint(key, value, "nnf.onnx").load())


def test_the_core_names_no_builtin_key():
    """``"nnf.`` strings in the core are the package's own names and the registry's rules,
    never a built-in layer's key."""
    out = subprocess.run(
        ["grep", "-rn", '"nnf\\.', str(ROOT / "framework" / "nnf")],
        capture_output=True,
        text=True,
    ).stdout
    keys = re.findall(r'"nnf\.[A-Z]\w*\.', out)  # a layer key: nnf.Name.
    assert keys == [], out


@pytest.mark.parametrize(
    ("padding", "stride", "size", "expected"),
    [("valid", 1, 6, (0, 0, 0, 0)), ("same", 1, 6, (1, 2, 1, 2)), ("same", 2, 7, (1, 1, 1, 1))],
)
def test_convolution_exposes_its_padding(padding, stride, size, expected):
    layer = nnf.layers.Convolutional(
        kernel_size=4 if stride == 1 else 3, depth=2, padding=padding, stride=stride
    )
    layer.build((1, size, size))
    assert layer.pads == expected
    x = np.random.default_rng(0).standard_normal((1, 1, size, size)).astype(np.float32)
    top, bottom, left, right = expected
    padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    assert layer.forward(x).shape[-1] == (padded.shape[-1] - layer.kernel_size) // stride + 1


def test_softmax_exposes_its_class_axis():
    rows, columns = Softmax(), Softmax()
    rows.build((4,))
    columns.build((4, 1))
    assert (rows.axis, columns.axis) == (-1, -2)
