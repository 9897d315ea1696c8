"""docs/layers.md is enough to run a model: its NumPy arithmetic, with the reference reader
and ``run_model`` of docs/format.md, runs in a process that never imports nnf and gives
``nnf.load(path).predict``'s outputs for every built-in layer and option.

Also the doc-drift test: the option tables of docs/layers.md and docs/format.md are what
``python -m nnf.docgen`` generates from the layers' attrs fields, and the arrays each layer
section lists are the ones the layer creates.

A new built-in layer (any ``nnf.layers`` entry point of the ``nnf_layers`` package) fails
here until docs/layers.md has its section (``## ClassName``, options block, arrays table and a
``@layer("key")`` forward function) and a model using it is in ``MODELS`` below (every
case of ``builtin_layer_cases.CASES`` is one).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import msgpack
import nnf
import numpy as np
import pytest
from builtin_layer_cases import CASES, case_id
from nnf.docgen import package_keys, regenerate
from nnf.io.encode import pack_chunks
from nnf.layer_options import layer_options
from nnf.layers import (
    Convolutional,
    Dense,
    Dropout,
    Flatten,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Reshape,
    Sigmoid,
    Softmax,
    Tanh,
)
from test_io_format_doc import reader_source

DOCS = Path(__file__).resolve().parents[1] / "docs"
LAYERS_DOC = DOCS / "layers.md"
FORMAT_DOC = DOCS / "format.md"
BUILTIN_KEYS = package_keys("nnf_layers")
TOLERANCE = {"float32": 1e-5, "float64": 1e-10}


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def run_model_source() -> str:
    section = FORMAT_DOC.read_text(encoding="utf-8").split("## 13. ", 1)[1]
    blocks = [b for b in python_blocks(section) if "def run_model(" in b]
    assert blocks, "docs/format.md section 13 lost run_model"
    return blocks[0]


def layers_source() -> str:
    blocks = python_blocks(LAYERS_DOC.read_text(encoding="utf-8"))
    assert blocks, "docs/layers.md has no Python blocks"
    return "\n\n".join(blocks)


def sections() -> dict[str, str]:
    """docs/layers.md's ``## Heading`` sections by heading."""
    parts = re.split(r"^## ", LAYERS_DOC.read_text(encoding="utf-8"), flags=re.M)[1:]
    return {part.split("\n", 1)[0].strip(): part for part in parts}


# ----------------------------------------------------------------------------- the models
def single(
    key: str, config: dict[str, Any], shape: tuple[int, ...], dtype: str = "float32"
) -> nnf.Sequential:
    return nnf.Sequential([nnf.get_layer(key).from_config(config)], input_shape=shape, dtype=dtype)


def lenet_like(dtype: str = "float32") -> nnf.Sequential:
    layers = [
        Convolutional(kernel_size=3, depth=4, padding="same", bias="channel", init="he"),
        ReLU(),  # runs after the pooling in nnf (nnf.parallel.plan): same outputs
        MaxPool2D(),
        Convolutional(kernel_size=2, depth=3, stride=2, padding="same"),
        LeakyReLU(alpha=0.3),
        MaxPool2D(pool_size=3, stride=1),
        Flatten(),
        Dropout(rate=0.3),
        Dense(output_size=5, init="he"),
        Tanh(),
        Dense(output_size=4),
        Softmax(),
    ]
    return nnf.Sequential(layers, input_shape=(2, 11, 10), dtype=dtype)


def tutorial_columns(dtype: str = "float32") -> nnf.Sequential:
    """The tutorial's CNN: per-position biases, Reshape to columns, column Dense and Softmax."""
    layers = [
        Convolutional((1, 6, 6), 3, 2, init="normal"),
        Sigmoid(),
        Reshape((2, 4, 4), (32, 1)),
        Dense(32, 6, init="normal"),
        Sigmoid(),
        Dense(6, 3),
        Softmax(),
    ]
    return nnf.Sequential(layers, dtype=dtype)


def dense_relu_softmax(dtype: str = "float32") -> nnf.Sequential:
    """The walk-through's classifier (docs/format.md, section 13)."""
    return nnf.Sequential([Dense(output_size=6), ReLU(), Softmax()], input_shape=(4,), dtype=dtype)


def images_as_rows(dtype: str = "float32") -> nnf.Sequential:
    """Softmax over the last axis of (C, H, W) samples; Reshape of images; even kernels;
    LeakyReLU's default slope."""
    layers = [
        Convolutional(kernel_size=4, depth=2, stride=3, padding="same"),
        Reshape((2, 3, 3), (3, 6)),
        Softmax(),
        Reshape((3, 6), (1, 3, 6)),
        Convolutional(kernel_size=2, depth=3, padding="valid", stride=2, bias="channel"),
        LeakyReLU(),  # alpha 0.01, left out of the stripped file
    ]
    return nnf.Sequential(layers, input_shape=(1, 7, 9), dtype=dtype)


def resnet_like(dtype: str = "float32") -> nnf.Sequential:
    """Residual blocks (with a 1x1 projection of stride 2, a Dense projection, one nested in
    another), BatchNorm with trained running statistics, average pooling."""
    from nnf.layers import AvgPool2D, BatchNorm, GlobalAveragePooling2D, Residual

    layers = [
        Convolutional(kernel_size=3, depth=3, padding="same", bias="channel"),
        BatchNorm(),
        Residual(
            [
                Convolutional(kernel_size=3, depth=4, stride=2, padding="same"),
                BatchNorm(momentum=0.5),
                Residual([ReLU(), AvgPool2D(pool_size=3, stride=1, padding="same")]),
            ]
        ),
        GlobalAveragePooling2D(),
        Residual([Dense(output_size=3), Tanh()]),
        BatchNorm(epsilon=1e-3),
        Softmax(),
    ]
    return nnf.Sequential(layers, input_shape=(2, 7, 6), dtype=dtype)


MODELS = {
    **{f"single-{case_id(c)}": (lambda dtype, c=c: single(*c, dtype=dtype)) for c in CASES},
    "lenet-like": lenet_like,
    "tutorial-columns": tutorial_columns,
    "dense-relu-softmax": dense_relu_softmax,
    "images-as-rows": images_as_rows,
    "resnet-like": resnet_like,
}
#: Saved with every option at its default removed from the file: missing means default.
STRIPPED = {"lenet-like", "tutorial-columns", "images-as-rows"}


def randomised(model: nnf.Sequential, seed: int) -> nnf.Sequential:
    """``model`` built with every parameter drawn anew (biases too, not only zeros), and its
    state too (BatchNorm's running statistics; variances positive)."""
    model.build(seed=seed)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for array in layer.params.values():
            array[...] = rng.standard_normal(array.shape) * 0.5
        for name, array in layer.state.items():
            if name.endswith("var"):
                array[...] = rng.random(array.shape) + 0.5
            else:
                array[...] = rng.standard_normal(array.shape) * 0.5
    return model


def strip_defaults(data: bytes) -> bytes:
    """The file with every option that holds its default value left out of ``config``."""
    doc = msgpack.unpackb(data)
    doc.pop("sha256")
    for record in doc["model"]["layers"]:
        for option in layer_options(nnf.get_layer(record["key"])):
            if not option.required and record["config"].get(option.name) == option.default:
                del record["config"][option.name]
    return b"".join(pack_chunks(doc))


RUNNER = """
import json, sys
{reader}
{layers}
{run_model}
out = {{"keys": sorted(FORWARD)}}
for item in json.load(open(sys.argv[1])):
    got = read_nnf(open(item["file"], "rb").read())
    np.save(item["y"], run_model(got["model"], got["tensors"], np.load(item["x"])))
out["nnf_imported"] = sorted(m for m in sys.modules if m == "nnf" or m.startswith("nnf"))
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Any]:
    """Every model in both dtypes, run by nnf and by the documented arithmetic."""
    folder = tmp_path_factory.mktemp("layers_doc")
    manifest, expected, stripped_configs = [], {}, {}
    for i, (name, make) in enumerate(MODELS.items()):
        for dtype in ("float32", "float64"):
            model = randomised(make(dtype), seed=i)
            data = model.to_bytes()
            if name in STRIPPED:
                data = strip_defaults(data)
                stripped_configs[name] = nnf.inspect(data)["layers"]
            run = f"{name}-{dtype}"
            path = folder / f"{run}.nnf"
            path.write_bytes(data)
            x = np.random.default_rng(i).standard_normal((5, *model.input_shape)).astype(dtype)
            np.save(folder / f"{run}-x.npy", x)
            expected[run] = nnf.load(path).predict(x)
            manifest.append(
                {"file": str(path), "x": str(folder / f"{run}-x.npy"), "y": str(folder / run)}
            )
    (folder / "manifest.json").write_text(json.dumps(manifest))
    source = RUNNER.format(
        reader=reader_source(), layers=layers_source(), run_model=run_model_source()
    )
    assert "import nnf" not in source and "from nnf" not in source
    done = subprocess.run(
        [sys.executable, "-c", source, str(folder / "manifest.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    got = {run: np.load(folder / f"{run}.npy") for run in expected}
    return {**out, "expected": expected, "got": got, "stripped": stripped_configs}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(MODELS))
def test_documented_arithmetic_gives_nnfs_outputs(runs, name: str, dtype: str):
    run = f"{name}-{dtype}"
    expected, got = runs["expected"][run], runs["got"][run]
    assert got.shape == expected.shape and got.dtype == expected.dtype
    error = float(np.max(np.abs(got - expected))) if got.size else 0.0
    assert error < TOLERANCE[dtype], f"{run}: largest difference {error:.3g}"


def test_the_reader_never_imports_nnf_and_covers_every_builtin_key(runs):
    assert runs["nnf_imported"] == []
    missing = sorted(set(BUILTIN_KEYS) - set(runs["keys"]))
    assert not missing, f"docs/layers.md has no @layer forward function for {missing}"
    assert len(BUILTIN_KEYS) >= 11  # the package's entry points were found


def test_stripped_files_really_lack_their_default_options(runs):
    for name, layers in runs["stripped"].items():
        for record in layers:
            for option in layer_options(nnf.get_layer(record["key"])):
                if option.name in record["config"]:
                    assert record["config"][option.name] != option.default, (name, option)
    assert any(
        "stride" not in r["config"] and r["key"] == "nnf.MaxPool2D.v1"
        for layers in runs["stripped"].values()
        for r in layers
    )


def test_the_models_use_every_layer_and_every_option():
    """Every built-in key appears; every option takes its default and another value; every
    allowed value of a choice appears (required options: any value)."""
    seen: dict[str, dict[str, list[Any]]] = {}
    for make in MODELS.values():
        for layer in make("float32").layers:
            options = seen.setdefault(type(layer).key, {})
            for option, value in layer.get_config().items():
                options.setdefault(option, []).append(value)
    unused = sorted(set(BUILTIN_KEYS) - set(seen))
    assert not unused, f"no tested model uses {unused}: add one to MODELS"
    gaps = []
    for key in BUILTIN_KEYS:
        for option in layer_options(nnf.get_layer(key)):
            values = seen[key].get(option.name, [])
            if option.required:
                ok = bool(values)
            elif option.choices is not None:
                ok = all(c in values for c in option.choices)
            else:
                ok = option.default in values and any(v != option.default for v in values)
            if not ok:
                gaps.append(f"{key} {option.name}: {values}")
    assert not gaps, "options not covered by MODELS: " + "; ".join(gaps)


# ---------------------------------------------------------------------------- doc drift
@pytest.mark.parametrize("page", [LAYERS_DOC, FORMAT_DOC], ids=lambda p: p.name)
def test_generated_tables_are_up_to_date(page: Path):
    text = page.read_text(encoding="utf-8")
    assert "<!-- generated: " in text
    assert regenerate(text) == text, (
        f"{page.name} is out of date with the layers' fields: run "
        f"python -m nnf.docgen docs/format.md docs/layers.md"
    )


@pytest.mark.parametrize("key", BUILTIN_KEYS)
def test_every_builtin_layer_has_a_full_section(key: str):
    cls = nnf.get_layer(key)
    section = sections().get(cls.__name__)
    assert section is not None, f"docs/layers.md has no '## {cls.__name__}' section"
    assert f"<!-- generated: options {key} -->" in section
    assert f'@layer("{key}")' in section
    for option in layer_options(cls):
        assert option.doc, f"{key} option {option.name!r} has no metadata doc"
    assert attrs.has(cls)


def documented_arrays(section: str) -> dict[str, set[str]]:
    rows = re.findall(r"^\| `(\w+)` \| (param|state) \|", section, flags=re.M)
    return {kind: {name for name, k in rows if k == kind} for kind in ("param", "state")}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_documented_arrays_are_the_layers_arrays(case):
    key, config, shape = case
    model = single(key, config, shape).build(seed=0)
    layer = model.layers[0]
    documented = documented_arrays(sections()[type(layer).__name__])
    # A layer's own arrays; those of layers held inside it (a Residual's "inner/array") are
    # documented in the inner layers' sections.
    assert documented["param"] == {k for k in layer.params if "/" not in k}
    assert documented["state"] == {k for k in layer.state if "/" not in k}
