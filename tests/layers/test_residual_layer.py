"""Residual: y = f(x) + x (or + a projection), gradients with and without a projection,
configs, specs, nesting limits and files holding inner layers (a plugin's among them)."""

from __future__ import annotations

import attrs
import msgpack
import nnf
import numpy as np
import pytest
from gradcheck import check_gradients
from nnf.errors import ConfigError, ModelFormatError, ShapeError
from nnf.io.encode import pack_chunks
from nnf.layers import BatchNorm, Convolutional, Dense, Dropout, ReLU, Residual, Tanh
from nnf.registry import REGISTRY
from nnf.spec import loads_spec


def built(layer: Residual, shape: tuple[int, ...]) -> Residual:
    layer.build(shape, rng=np.random.default_rng(0), dtype="float64")
    return layer


def test_without_projection_adds_the_input() -> None:
    block = built(Residual([Dense(output_size=5), Tanh()]), (5,))
    assert block.sublayers() == block.layers  # same shapes: no projection
    x = np.random.default_rng(1).standard_normal((4, 5))
    w, b = block.params["dense_0/weights"], block.params["dense_0/bias"]
    np.testing.assert_allclose(block.forward(x), np.tanh(x @ w.T + b) + x, rtol=1e-14)


def test_projection_is_a_strided_1x1_convolution_when_shapes_differ() -> None:
    inner = Convolutional(kernel_size=3, depth=4, stride=2, padding="same", bias="channel")
    block = built(Residual([inner]), (2, 7, 7))
    assert block.out_shape == (4, 4, 4)
    projection = block.sublayers()[-1]
    assert projection.name == "projection" and projection.stride == 2
    x = np.random.default_rng(1).standard_normal((3, 2, 7, 7))
    k = block.params["projection/kernels"][:, :, 0, 0]  # (4, 2)
    expected_skip = np.einsum("dc,nchw->ndhw", k, x[:, :, ::2, ::2])
    expected_skip += block.params["projection/biases"][None, :, None, None]
    np.testing.assert_allclose(block.forward(x), inner.forward(x) + expected_skip, rtol=1e-12)


@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (lambda: Residual([Dense(output_size=4), Tanh(), Dense(output_size=4)]), (4,)),
        (lambda: Residual([Dense(output_size=3), Tanh()]), (5,)),  # Dense projection
        (lambda: Residual([Dense(output_size=4)], projection=True), (4,)),
        (
            lambda: Residual(
                [Convolutional(kernel_size=3, depth=3, padding="same"), Tanh(), BatchNorm()]
            ),
            (2, 4, 4),
        ),
        (
            lambda: Residual(
                [Convolutional(kernel_size=3, depth=3, stride=2, padding="same"), BatchNorm()]
            ),
            (2, 5, 5),
        ),
    ],
    ids=["plain", "dense-projection", "forced-projection", "conv-bn", "conv-bn-projection"],
)
@pytest.mark.parametrize("training", [True, False])
def test_gradients_match_central_differences(make, shape, training: bool) -> None:
    block = built(make(), shape)
    x = np.random.default_rng(2).standard_normal((3, *shape))
    errors = check_gradients(block, x, training=training)
    assert set(errors) == {"input", *block.params} and max(errors.values()) < 1e-6


def test_backward_parameters_gives_the_same_parameter_gradients() -> None:
    make = lambda: built(  # noqa: E731
        Residual([Convolutional(kernel_size=3, depth=3, stride=2, padding="same"), ReLU()]),
        (2, 5, 5),
    )
    a, b = make(), make()
    x = np.random.default_rng(3).standard_normal((2, 2, 5, 5))
    g = np.random.default_rng(4).standard_normal((2, 3, 3, 3))
    a.forward(x, training=True)
    a.backward(g)
    b.forward(x, training=True)
    b.backward_parameters(g)
    for k in a.grads:
        np.testing.assert_allclose(a.grads[k], b.grads[k], rtol=1e-12)


def test_params_are_the_inner_layers_own_arrays() -> None:
    dense = Dense(output_size=4)
    block = built(Residual([dense]), (4,))
    assert block.params["dense_0/weights"] is dense.params["weights"]
    assert block.grads["dense_0/weights"] is dense.grads["weights"]
    block.cast("float32")
    assert dense.params["weights"].dtype == np.float32
    assert block.params["dense_0/weights"] is dense.params["weights"]


def test_dropout_inside_draws_from_the_blocks_stream() -> None:
    def run(seed: int) -> np.ndarray:
        block = built(Residual([Dropout(0.5)]), (50,))
        block.rng = np.random.default_rng(seed)
        return block.forward(np.ones((2, 50)), training=True)

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def test_config_round_trip_and_spec_tables() -> None:
    block = Residual(
        [{"type": "Convolutional", "kernel_size": 3, "depth": 2, "name": "c"}, {"type": "ReLU"}]
    )
    config = block.get_config()
    assert config["layers"][0] == {
        "key": "nnf.Convolutional.v1",
        "version": 1,
        "name": "c",
        "config": Convolutional(kernel_size=3, depth=2).get_config(),
    }
    assert config["layers"][1]["name"] == "relu_1"
    assert Residual.from_config(config).get_config() == config


@pytest.mark.parametrize(
    ("layers", "match"),
    [
        ([], "non-empty list"),
        ("Dense", "non-empty list"),
        ([3], "must be a layer or a table"),
        ([{"type": "Dens", "output_size": 3}], "no layer named 'Dens'"),
        ([{"type": "Dense", "units": 3}], "did you mean 'output_size'"),
        ([{"key": "acme.Gone.v1", "config": {}}], "'acme.Gone.v1', which is not installed"),
        ([{"key": "nnf.Dense.v1", "version": 7, "config": {"output_size": 2}}], "version 7"),
        ([{"key": "nnf.Dense.v1", "config": [1]}], "config must be a map"),
        ([{"key": "nnf.Dense.v1", "config": {}, "module": "os:system"}], "unknown entries"),
        ([Dense(output_size=2), Tanh()], None),  # Layer instances: fine
        ([{"type": "ReLU", "name": "a/b"}], "no '.' or '/'"),
        ([{"type": "ReLU", "name": "x"}, {"type": "Tanh", "name": "x"}], "must be unique"),
        ([{"type": "ReLU", "name": "projection"}], "not 'projection'"),
    ],
)
def test_bad_inner_layers_are_config_errors(layers, match) -> None:
    if match is None:
        Residual(layers)
        return
    with pytest.raises(ConfigError, match=match):
        Residual.from_config({"layers": layers})


def test_nesting_is_limited() -> None:
    config: dict = {"layers": [{"type": "ReLU"}]}
    for _ in range(8):
        config = {"layers": [{"type": "Residual", **config}]}
    with pytest.raises(ConfigError, match="nest more than 8 deep"):
        Residual.from_config(config)


def test_shapes_that_cannot_be_joined() -> None:
    with pytest.raises(ShapeError, match="cannot be added"):
        Residual([Dense(output_size=3)], projection=False).build((4,))
    with pytest.raises(ShapeError, match="no 1x1 convolution"):
        Residual([Convolutional(kernel_size=3, depth=2)]).build((1, 9, 9))  # 9 -> 7
    with pytest.raises(ConfigError, match="projection must be"):
        Residual([ReLU()], projection="yes")


def test_spec_with_nested_layers_infers_shapes() -> None:
    spec = loads_spec(
        """
        input_shape = [2, 8, 8]
        [[layers]]
        type = "Residual"
        layers = [
          { type = "Convolutional", kernel_size = 3, depth = 4, stride = 2, padding = "same" },
          { type = "BatchNorm" },
          { type = "Residual", layers = [{ type = "ReLU" }] },
        ]
        [[layers]]
        type = "GlobalAveragePooling2D"
        """
    )
    model = spec.build(seed=0)
    assert model.output_shape == (4,)
    assert model.layers[0].out_shape == (4, 4, 4)
    with pytest.raises(ConfigError, match=r"layer 0 \(Residual\).*kernal"):
        loads_spec(
            'input_shape = [4]\n[[layers]]\ntype = "Residual"\n'
            'layers = [{ type = "Dense", kernal = 3 }]\n'
        ).build()


# ------------------------------------------------------------------------------- files
@attrs.define(eq=False)
class Scale(nnf.Layer):
    """A plugin-style layer (registered by this script): y = s * x."""

    key = "restest.Scale.v1"
    keeps = ()

    def _build(self, input_shape, rng, dtype):
        self.params["s"] = np.full(input_shape, 1.5, dtype=dtype)
        return input_shape

    def forward(self, x, training=False):
        self.input = x
        return x * self.params["s"]

    def _backward(self, g):
        self.grads["s"] += (g * self.input).sum(axis=0)
        return g * self.params["s"]


@pytest.fixture
def scale_registered():
    REGISTRY.register(Scale)
    try:
        yield
    finally:
        REGISTRY.unregister(Scale.key)


def plugin_model() -> nnf.Sequential:
    block = Residual([Dense(output_size=4), Scale(), Residual([BatchNorm(), Tanh()])])
    model = nnf.Sequential([block, Dense(output_size=2)], input_shape=(4,))
    x = np.random.default_rng(0).standard_normal((16, 4))
    model.fit(
        x, np.arange(16) % 2, epochs=2, batch_size=8, seed=0, verbose=0, loss="softmax_crossentropy"
    )
    return model


def test_file_round_trip_with_a_plugin_inside(scale_registered) -> None:
    model = plugin_model()
    data = model.to_bytes()
    loaded = nnf.io.loads(data)
    inner = loaded.layers[0]
    assert [type(layer).key for layer in inner.layers] == [
        "nnf.Dense.v1",
        "restest.Scale.v1",
        "nnf.Residual.v1",
    ]
    for a, b in zip(model.layers, loaded.layers, strict=True):
        for table in ("params", "state"):
            for k, v in getattr(a, table).items():
                assert getattr(b, table)[k].tobytes() == v.tobytes(), k
    x = np.random.default_rng(5).standard_normal((3, 4))
    assert loaded.predict(x).tobytes() == model.predict(x).tobytes()
    assert loaded.optimizer.slots.keys() == model.optimizer.slots.keys()
    # The file names the inner layers' plugins, and inspect lists them without importing any.
    plugins = {p["key"]: p for p in nnf.io.inspect(data)["required_plugins"]}
    assert plugins["restest.Scale.v1"]["dist"] == "<script>"
    assert {"nnf.BatchNorm.v1", "nnf.Tanh.v1", "nnf.Residual.v1"} <= plugins.keys()


def doc_of(data: bytes) -> dict:
    doc = msgpack.unpackb(data)
    doc.pop("sha256")
    return doc


def repack(doc: dict) -> bytes:
    return b"".join(pack_chunks(doc))


def test_a_missing_inner_plugin_is_named_on_load(scale_registered) -> None:
    data = plugin_model().to_bytes()
    doc = doc_of(data)
    doc["writer"]["plugins"]["restest.Scale.v1"] = {"dist": "acme-layers", "version": "1.2"}
    changed = repack(doc)
    REGISTRY.unregister(Scale.key)
    try:
        with pytest.raises(ModelFormatError, match=r"acme-layers 1\.2.*pip install"):
            nnf.io.loads(changed)
    finally:
        REGISTRY.register(Scale)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda rec: rec["config"].update(layers=[]), "non-empty list"),
        (lambda rec: rec["config"].update(layers="os.system"), "non-empty list"),
        (lambda rec: rec["config"]["layers"][0].update(key="nnf.Nope.v1"), "not installed"),
        (lambda rec: rec["config"]["layers"][0].update(version=3), "version 3"),
        (lambda rec: rec["config"]["layers"][0]["config"].update(output_size=10**12), "more"),
        (lambda rec: rec["config"]["layers"][0].update(name="a.b"), "no '.' or '/'"),
        (lambda rec: rec["config"]["layers"].pop(1), "in the file but not in the rebuilt"),
        (lambda rec: rec["config"].update(projection=True), "missing from the file"),
        (lambda rec: rec.update(params=rec["params"][1:]), "not listed by any layer"),
    ],
)
def test_malformed_nested_configs_are_format_errors(scale_registered, change, match) -> None:
    doc = doc_of(plugin_model().to_bytes())
    change(doc["model"]["layers"][0])
    with pytest.raises(ModelFormatError, match=match):
        nnf.io.loads(repack(doc))


def test_writer_plugins_must_still_name_every_top_level_key(scale_registered) -> None:
    doc = doc_of(plugin_model().to_bytes())
    doc["writer"]["plugins"].pop("nnf.Residual.v1")
    with pytest.raises(ModelFormatError, match="must name every layer key"):
        nnf.io.loads(repack(doc))
    doc = doc_of(plugin_model().to_bytes())
    doc["writer"]["plugins"]["not a key"] = {"dist": "x", "version": None}
    with pytest.raises(ModelFormatError, match="registry keys"):
        nnf.io.loads(repack(doc))


def test_deep_nesting_in_a_file_is_refused() -> None:
    model = nnf.Sequential([Residual([ReLU()])], input_shape=(3,)).build(seed=0)
    doc = doc_of(model.to_bytes())
    rec = doc["model"]["layers"][0]
    inner = {"key": "nnf.ReLU.v1", "version": 1, "name": "relu_0", "config": {}}
    for _ in range(9):
        inner = {
            "key": "nnf.Residual.v1",
            "version": 1,
            "name": "r",
            "config": {"layers": [inner], "projection": None},
        }
    rec["config"] = inner["config"]
    with pytest.raises(ModelFormatError, match="nest"):
        nnf.io.loads(repack(doc))
