"""ONNX export checked with onnxruntime against nnf's own predictions (the onnx extra)."""

from __future__ import annotations

from pathlib import Path

import nnf
import numpy as np
import pytest
from builtin_layer_cases import CASES, case_id
from nnf.export import ExportError, export, register_onnx_converter, to_onnx
from nnf.export.onnx import unregister_onnx_converter
from nnf.layers import (
    Convolutional,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ReLU,
    Reshape,
    Sigmoid,
    Softmax,
    Tanh,
)

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

SPECS = sorted((Path(__file__).parents[1] / "examples" / "specs").glob("*.toml"))
TOLERANCE = 1e-5


def randomise(model: nnf.Sequential, seed: int = 3) -> nnf.Sequential:
    """Perturb every parameter by 30% of its spread (0.3 for zero-initialised biases), so that
    biases are tested too while activations keep the scale of a real network."""
    rng = np.random.default_rng(seed)
    for _, p, _ in model.named_parameters():
        spread = float(p.std()) or 1.0
        p += (0.3 * spread * rng.standard_normal(p.shape)).astype(p.dtype)
    return model


def onnx_error(model: nnf.Sequential, batch_sizes=(5, 1)) -> float:
    """Largest |onnxruntime - nnf| over random batches of each size."""
    session = ort.InferenceSession(
        to_onnx(model).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    worst = 0.0
    for i, n in enumerate(batch_sizes):
        x = np.random.default_rng(i).standard_normal((n, *model.input_shape)).astype(np.float32)
        (got,) = session.run(None, {"input": x})
        expected = model.predict(x)
        assert got.shape == expected.shape
        worst = max(worst, float(np.max(np.abs(got - expected))))
    return worst


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_builtin_layer_matches_onnxruntime(case):
    key, config, shape = case
    layer = nnf.get_layer(key).from_config(config)
    model = randomise(nnf.Sequential([layer], input_shape=shape).build(seed=0))
    assert onnx_error(model) < TOLERANCE


def test_the_graph_is_opset_17_float32_with_a_symbolic_batch_axis():
    model = nnf.Sequential([Dense(output_size=3), Softmax()], input_shape=(4,)).build(seed=0)
    proto = to_onnx(model)
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", 17)]
    for value in (proto.graph.input[0], proto.graph.output[0]):
        assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param == "N"
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim[1:]] == [4]
    assert all(t.data_type == onnx.TensorProto.FLOAT for t in proto.graph.initializer)


@pytest.mark.parametrize(
    ("bias", "ops", "conv_inputs"), [("position", ["Conv", "Add"], 2), ("channel", ["Conv"], 3)]
)
def test_convolution_biases(bias, ops, conv_inputs):
    layer = Convolutional(kernel_size=3, depth=2, bias=bias)
    proto = to_onnx(nnf.Sequential([layer], input_shape=(1, 5, 5)).build(seed=0))
    nodes = [n for n in proto.graph.node if n.op_type != "Identity"]
    assert [n.op_type for n in nodes] == ops
    assert len(nodes[0].input) == conv_inputs


def test_a_lenet_style_model():
    layers = [
        Convolutional(kernel_size=5, depth=4, padding="same"),
        ReLU(),
        MaxPool2D(),
        Convolutional(kernel_size=3, depth=6, bias="channel", stride=2),
        Tanh(),
        Flatten(),
        Dense(output_size=16),
        Dropout(rate=0.5),
        Dense(output_size=10),
        Softmax(),
    ]
    model = randomise(nnf.Sequential(layers, input_shape=(1, 16, 16)).build(seed=1))
    assert onnx_error(model, batch_sizes=(4, 1, 9)) < TOLERANCE


def test_the_tutorial_model_with_columns():
    layers = [
        Convolutional((1, 12, 12), 3, 5, init="normal"),
        Sigmoid(),
        Reshape((5, 10, 10), (5 * 10 * 10, 1)),
        Dense(5 * 10 * 10, 20, init="normal"),
        Sigmoid(),
        Dense(20, 2, init="normal"),
        Softmax(),
    ]
    model = nnf.Sequential(layers, input_shape=(1, 12, 12)).build(seed=2)
    assert model.output_shape == (2, 1)
    assert onnx_error(model) < TOLERANCE


def test_a_float64_model_is_exported_in_float32():
    model = nnf.Sequential([Dense(output_size=5), Tanh()], input_shape=(3,), dtype="float64")
    model = randomise(model.build(seed=0))
    proto = to_onnx(model)
    assert proto.graph.initializer[0].data_type == onnx.TensorProto.FLOAT
    assert onnx_error(model) < TOLERANCE


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_example_specs_match_onnxruntime(spec):
    from nnf.spec import load_spec

    model = randomise(load_spec(spec).build(seed=0))
    assert onnx_error(model) < TOLERANCE


def test_trained_resnet_with_running_statistics_matches_onnxruntime():
    """BatchNorm's running statistics (state, not params) and nested Residual blocks, one with
    a projection, one holding another block, after real training steps."""
    from nnf.layers import AvgPool2D, BatchNorm, GlobalAveragePooling2D, Residual

    model = nnf.Sequential(
        [
            Convolutional(kernel_size=3, depth=4, padding="same", bias="channel"),
            BatchNorm(),
            ReLU(),
            Residual(
                [
                    Convolutional(kernel_size=3, depth=6, stride=2, padding="same"),
                    BatchNorm(momentum=0.5),
                    Residual([ReLU(), AvgPool2D(pool_size=3, stride=1, padding="same")]),
                ]
            ),
            GlobalAveragePooling2D(),
            BatchNorm(),
            Dense(output_size=3),
            Softmax(),
        ],
        input_shape=(2, 9, 9),
    )
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 2, 9, 9)) * 2 + 1
    y = rng.integers(0, 3, 32)
    model.fit(x, y, epochs=3, batch_size=8, seed=0, verbose=0, loss="categorical_crossentropy")
    assert np.abs(model.layers[1].state["running_mean"]).max() > 0.05
    assert onnx_error(model) < TOLERANCE


def test_export_writes_a_file_onnx_loads(tmp_path):
    model = nnf.Sequential([Dense(output_size=2)], input_shape=(3,)).build(seed=0)
    path = tmp_path / "model.onnx"
    export(model, path, format="onnx")
    loaded = onnx.load(str(path))
    onnx.checker.check_model(loaded)
    assert loaded.producer_name == "nnf"


class Cube(nnf.Layer):
    key = "exporttest.Cube.v1"

    def forward(self, x, training=False):
        return x**3


def test_a_script_registered_converter_is_used():
    model = nnf.Sequential([Cube(), Dense(output_size=2)], input_shape=(3,)).build(seed=0)
    with pytest.raises(ExportError, match=r"layer 0 cube_0 \(Cube\) \(exporttest.Cube.v1"):
        to_onnx(model)

    def cube(layer, graph, x):
        return graph.node("Mul", [x, graph.node("Mul", [x, x])])

    register_onnx_converter(Cube.key, cube)
    try:
        assert onnx_error(model) < TOLERANCE
    finally:
        unregister_onnx_converter(Cube.key)


def test_a_failing_converter_names_the_layer():
    model = nnf.Sequential([Cube()], input_shape=(3,)).build(seed=0)

    def broken(layer, graph, x):
        raise RuntimeError("boom")

    register_onnx_converter(Cube.key, broken)
    try:
        with pytest.raises(ExportError, match=r"converting layer 0 cube_0 .*RuntimeError: boom"):
            to_onnx(model)
    finally:
        unregister_onnx_converter(Cube.key)
