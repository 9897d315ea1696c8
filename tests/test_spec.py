"""Model specs: parsing, building through the registry, and errors that point at the layer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from nnf.errors import ConfigError, ShapeError, UnknownLayerError
from nnf.spec import (
    ModelSpec,
    build_model,
    load_spec,
    loads_spec,
    override,
    parse_assignment,
    parse_spec,
)

SPECS = Path(__file__).resolve().parents[1] / "examples" / "specs"

SMALL = """
name = "small"
input_shape = [1, 8, 8]

[[layers]]
type = "Convolutional"
kernel_size = 3
depth = 2

[[layers]]
type = "ReLU"

[[layers]]
type = "Flatten"

[[layers]]
type = "Dense"
name = "head"
output_size = 3

[[layers]]
type = "Softmax"

[training]
epochs = 2
optimizer = "sgd"
learning_rate = 0.1
"""


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ------------------------------------------------------------------------ the examples
@pytest.mark.parametrize(
    ("name", "output", "layers"),
    [("tutorial_cnn", (10,), 7), ("mlp", (10,), 6), ("lenet5", (10,), 13)],
)
def test_example_specs_build(name: str, output: tuple[int, ...], layers: int) -> None:
    model = build_model(SPECS / f"{name}.toml", seed=0)
    assert model.name == name
    assert model.output_shape == output
    assert len(model) == layers
    assert load_spec(SPECS / f"{name}.toml").training["data"] == "mnist-small"


def test_tutorial_cnn_shapes_are_inferred() -> None:
    model = build_model(SPECS / "tutorial_cnn.toml", seed=0)
    # The tutorial writes Reshape((5, 26, 26), (5 * 26 * 26, 1)); the spec infers it.
    assert model.layers[0].out_shape == (5, 26, 26)
    assert model.layers[2].out_shape == (5 * 26 * 26,)
    assert model.layers[3].params["weights"].shape == (100, 5 * 26 * 26)


def test_lenet5_shapes() -> None:
    model = build_model(SPECS / "lenet5.toml", seed=0)
    shapes = [layer.out_shape for layer in model.layers]
    assert shapes[:7] == [
        (6, 28, 28),
        (6, 28, 28),
        (6, 14, 14),
        (16, 10, 10),
        (16, 10, 10),
        (16, 5, 5),
        (400,),
    ]


def test_same_seed_same_weights(tmp_path: Path) -> None:
    path = write(tmp_path, SMALL)
    a, b, c = build_model(path, seed=3), build_model(path, seed=3), build_model(path, seed=4)
    assert np.array_equal(a.layers[0].params["kernels"], b.layers[0].params["kernels"])
    assert not np.array_equal(a.layers[0].params["kernels"], c.layers[0].params["kernels"])


def test_json_spec_equals_toml(tmp_path: Path) -> None:
    toml_spec = load_spec(write(tmp_path, SMALL))
    json_path = write(tmp_path, json.dumps(toml_spec.to_dict()), "spec.json")
    json_spec = load_spec(json_path)
    assert json_spec.to_dict() == toml_spec.to_dict()
    assert (
        build_model(json_spec, seed=1).get_config() == build_model(toml_spec, seed=1).get_config()
    )


def test_layer_names_and_registry_keys(tmp_path: Path) -> None:
    spec = loads_spec(SMALL.replace('type = "ReLU"', 'type = "nnf.ReLU.v1"'))
    model = spec.build(seed=0)
    assert model.layers[3].name == "head"
    assert type(model.layers[1]).key == "nnf.ReLU.v1"
    assert spec.layers[3].label == "layer 3 'head' (Dense)"
    assert spec.training == {"epochs": 2, "optimizer": "sgd", "learning_rate": 0.1}


def test_to_dict_round_trips() -> None:
    spec = loads_spec(SMALL)
    again = parse_spec(spec.to_dict(), default_name="other")
    assert isinstance(again, ModelSpec)
    assert again.to_dict() == spec.to_dict()


# ---------------------------------------------------------------------------- errors
def test_unknown_layer_suggests_close_names(tmp_path: Path) -> None:
    path = write(tmp_path, SMALL.replace('"Convolutional"', '"Convolutonal"'))
    with pytest.raises(UnknownLayerError) as info:
        load_spec(path).build()
    message = str(info.value)
    assert "layer 0 (Convolutonal)" in message
    assert "did you mean Convolutional" in message
    assert str(path) in message


def test_wrong_option_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        loads_spec(SMALL.replace("output_size = 3", "units = 3")).build()
    message = str(info.value)
    assert "layer 3 'head' (Dense)" in message
    assert "unknown option 'units'" in message
    assert "did you mean 'output_size'" in message
    assert "valid options: input_size, output_size, init" in message


def test_bad_option_value_names_the_layer() -> None:
    with pytest.raises(ConfigError, match=r"layer 0 \(Convolutional\).*kernel_size"):
        loads_spec(SMALL.replace("kernel_size = 3", "kernel_size = -1")).build()


def test_shape_break_names_the_layer_and_the_flow() -> None:
    text = SMALL.replace('[[layers]]\ntype = "Flatten"\n', "")
    with pytest.raises(ShapeError) as info:
        loads_spec(text).build()
    message = str(info.value)
    assert "layer 2 'head' (Dense)" in message
    assert "(2, 6, 6)" in message
    assert "input (1, 8, 8) -> (2, 6, 6) -> (2, 6, 6)" in message
    assert "Flatten" in message


def test_kernel_too_large_for_input() -> None:
    with pytest.raises(ShapeError, match=r"layer 0 \(Convolutional\) cannot take input shaped"):
        loads_spec(SMALL.replace("kernel_size = 3", "kernel_size = 9")).build()


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("input_shape = [1, 8, 8\nname = 3\n", r"not valid TOML: .*line 2"),
        ('[[layers]]\ntype = "ReLU"\n', r"input_shape is missing"),
        ("input_shape = [0, 8]\n[[layers]]\ntype='ReLU'\n", r"positive integers"),
        ("input_shape = [4]\n", r"no layers"),
        ("input_shape = [4]\n[[layers]]\nsize = 3\n", r"layer 0 has no type"),
        ("input_shape = [4]\nlayer = []\n", r"unknown key 'layer' \(did you mean 'layers'\?\)"),
        ("input_shape = [4]\ndtype = 'float16'\n[[layers]]\ntype='ReLU'\n", r"dtype must be"),
        (
            "input_shape = [4]\n[[layers]]\ntype='ReLU'\nname='a'\n[[layers]]\ntype='ReLU'\n"
            "name='a'\n",
            r"two layers are named 'a'",
        ),
    ],
)
def test_malformed_specs(tmp_path: Path, text: str, pattern: str) -> None:
    with pytest.raises((ConfigError, ShapeError), match=pattern):
        load_spec(write(tmp_path, text))


@pytest.mark.parametrize("name", ["fc.1", "", "a\nb", "x" * 129])
def test_layer_names_follow_the_file_format_rule(tmp_path: Path, name: str) -> None:
    # A name the .nnf format cannot store must fail at validation, not at the first save.
    text = f"input_shape = [4]\n[[layers]]\ntype = 'ReLU'\nname = {json.dumps(name)}\n"
    with pytest.raises(ConfigError, match=r"layer 0 \(ReLU\): name .* cannot be saved"):
        loads_spec(text)


def test_a_valid_layer_name_saves(tmp_path: Path) -> None:
    import nnf

    text = "input_shape = [4]\n[[layers]]\ntype = 'ReLU'\nname = 'fc-1 (relu)'\n"
    nnf.save(loads_spec(text).build(seed=0), tmp_path / "m.nnf")
    assert nnf.load(tmp_path / "m.nnf").layers[0].name == "fc-1 (relu)"


@pytest.mark.parametrize(
    ("training", "pattern"),
    [
        ("epoch = 3", r"unknown key 'epoch' \(did you mean 'epochs'\?\)"),
        ("epochs = 'many'", r"epochs must be a int"),
        ("batch_size = 0", r"batch_size must be >= 1"),
        ("learning_rate = -1.0", r"learning_rate must be > 0"),
        ("validation_split = 1.5", r"validation_split must be in \[0, 1\)"),
        ("loss = 'hinge'", r"unknown loss 'hinge'"),
        ("optimizer = 'adagrad'", r"unknown optimizer 'adagrad'"),
        ("optimizer_options = {clipnorm = -1.0}", r"clipnorm must be a number > 0"),
        ("optimizer = 'rmsprop'\noptimizer_options = {beta1 = 0.9}", r"RMSprop has no option"),
        ("optimizer_options = {momentum = 0.9}", r"Adam has no option momentum"),
        ("shuffle = 1", r"shuffle must be a bool"),
        ("seed = -1", r"\[training\]: seed must be a non-negative integer, got -1"),
        (
            "optimizer_options = {learning_rate = 0.01}",
            r"learning_rate = \.\.\. \(or --lr\), not inside optimizer_options",
        ),
    ],
)
def test_bad_training_tables(training: str, pattern: str) -> None:
    text = 'input_shape = [4]\n[[layers]]\ntype = "ReLU"\n[training]\n' + training + "\n"
    with pytest.raises(ConfigError, match=pattern):
        loads_spec(text)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_spec(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match=r"\.toml or \.json"):
        load_spec(write(tmp_path, SMALL, "spec.yaml"))
    with pytest.raises(ConfigError, match=r"not valid JSON.*line 1"):
        load_spec(write(tmp_path, "{nope", "spec.json"))
    with pytest.raises(ConfigError, match="top level"):
        load_spec(write(tmp_path, "[1, 2]", "list.json"))


# ------------------------------------------------------------------------- overrides
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("epochs=3", ("epochs", 3)),
        ("learning_rate=1e-3", ("learning_rate", 0.001)),
        ("optimizer=sgd", ("optimizer", "sgd")),
        ('data="fashion-mnist"', ("data", "fashion-mnist")),
        ("optimizer_options={momentum=0.9}", ("optimizer_options", {"momentum": 0.9})),
        ("shuffle=false", ("shuffle", False)),
        ("input_shape=[1, 8, 8]", ("input_shape", [1, 8, 8])),
    ],
)
def test_parse_assignment(text: str, expected: tuple[str, object]) -> None:
    assert parse_assignment(text) == expected


def test_parse_assignment_needs_equals() -> None:
    with pytest.raises(ConfigError, match="key=value"):
        parse_assignment("epochs")


def test_overrides_reach_training_and_layers(tmp_path: Path) -> None:
    path = write(tmp_path, SMALL)
    spec = load_spec(path, overrides={"epochs": 5, "training.seed": 7, "layers.3.output_size": 4})
    assert spec.training["epochs"] == 5
    assert spec.training["seed"] == 7
    assert spec.build(seed=0).output_shape == (4,)


def test_override_errors() -> None:
    data = parse_spec_data()
    with pytest.raises(ConfigError, match=r"unknown key \(did you mean 'epochs'\?\)"):
        override(data, "epoch", 3)
    with pytest.raises(ConfigError, match="no layer 9"):
        override(data, "layers.9.depth", 3)


def parse_spec_data() -> dict:
    import tomllib

    return tomllib.loads(SMALL)
