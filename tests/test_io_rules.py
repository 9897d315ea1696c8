"""The written rules of docs/format.md, one by one, at their edges: registry keys, names,
configs (missing and null options), nesting depth, and the fields an old reader relies on."""

from __future__ import annotations

import hashlib

import msgpack
import nnf
import pytest
from builtin_layer_cases import CASES, case_id
from nnf.errors import ConfigError, ModelFormatError
from nnf.io.encode import pack_chunks
from nnf.io.spec import MAX_CONFIG_DEPTH, MAX_FILE_DEPTH, NAME_MAX, TRAILER_PREFIX
from nnf.keys import MAX_KEY_LENGTH, is_key, parse_key
from nnf.layers import Dense, Flatten, MaxPool2D, ReLU
from nnf.registry import REGISTRY


def refuse(data: bytes, match: str) -> str:
    with pytest.raises(ModelFormatError, match=match) as info:
        nnf.loads(data)
    assert "\n" not in str(info.value)
    return str(info.value)


def with_trailer(body: bytes) -> bytes:
    """``body`` (a map header counting the trailer, then entries) + a correct trailer."""
    body += TRAILER_PREFIX
    return body + hashlib.sha256(body).digest()


def good_file() -> bytes:
    model = nnf.Sequential([Dense(output_size=3), ReLU(), Dense(output_size=2)], input_shape=(4,))
    return model.build(seed=0).to_bytes()


def doc_of(data: bytes) -> dict:
    doc = msgpack.unpackb(data)
    doc.pop("sha256")
    return doc


def repack(doc: dict) -> bytes:
    return b"".join(pack_chunks(doc))


def rename_layer(doc: dict, old: str, new: str) -> None:
    """Rename a layer everywhere it is named: its record and its tensors' paths."""
    for layer in doc["model"]["layers"]:
        if layer["name"] == old:
            layer["name"] = new
    doc["tensors"] = {
        (new + path[len(old) :] if path.startswith(old + ".") else path): t
        for path, t in doc["tensors"].items()
    }


def rename_array(doc: dict, layer_name: str, old: str, new: str) -> None:
    for layer in doc["model"]["layers"]:
        if layer["name"] == layer_name:
            layer["params"] = [new if p == old else p for p in layer["params"]]
    doc["tensors"][f"{layer_name}.{new}"] = doc["tensors"].pop(f"{layer_name}.{old}")


# ---------------------------------------------------------------------------- registry keys
BAD_KEYS = [
    "nnf.LeakyReLU.v1\n",  # a trailing newline: Python's `$` would accept it
    "nnf.LéakyReLU.v1",  # a non-ASCII letter
    "nnf.Leaky٣.v1",  # a non-ASCII digit (Arabic-Indic three)
    "nnf.Dense.v١",  # a non-ASCII digit in the version
    "nnf.Dense.v0",
    "nnf.Dense.v01",
    "nnf.Dense.V1",
    "Dense.v1",  # no namespace
    "nnf..Dense.v1",
    "nnf.1Dense.v1",
    " nnf.Dense.v1",
    "nnf.Dense.v1 ",
    "nnf.Dense.v1\x00",
    "a" * (MAX_KEY_LENGTH - 4) + ".B.v1",  # 201 characters
]


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_malformed_keys_are_refused_everywhere(key: str):
    assert not is_key(key)
    with pytest.raises(ConfigError, match=r"namespace\.Name\.vN"):
        parse_key(key)

    def change(d):
        d["model"]["layers"][1]["key"] = key
        d["writer"]["plugins"][key] = d["writer"]["plugins"].pop("nnf.ReLU.v1")

    doc = doc_of(good_file())
    change(doc)
    refuse(repack(doc), "key must be a registry key")


@pytest.mark.parametrize(
    "key", ["nnf.Dense.v1", "acme.vision.Gated_2.v10", "_x._Y.v9", "a" * 195 + ".B.v1"]
)
def test_well_formed_keys(key: str):
    assert len(key) <= MAX_KEY_LENGTH and is_key(key)
    assert parse_key(key)[2] >= 1


def test_registration_refuses_a_key_with_a_trailing_newline():
    class Bad(nnf.Layer):
        key = "rules.Bad.v1\n"

    with pytest.raises(Exception, match=r"namespace\.Name\.vN"):
        nnf.register_layer(Bad)
    assert REGISTRY.entry("rules.Bad.v1\n") is None


# ------------------------------------------------------------------------------------ names
BAD_NAMES = [
    "",
    "a.b",
    "tab\there",
    "del\x7f",
    "next line\x85",  # C1 control: NEL
    "c1\x80",
    "c1\x9f",
    "x" * (NAME_MAX + 1),  # 129 code points
    "é" * (NAME_MAX + 1),
]
GOOD_NAMES = [
    "x" * NAME_MAX,
    "é" * NAME_MAX,  # 128 code points, 256 UTF-8 bytes
    "😀" * NAME_MAX,  # 128 code points, 256 UTF-16 units, 512 bytes
    "no-break\xa0space",  # U+00A0 is the first code point after the C1 range
    "line\u2028separator",  # category Zl, not Cc
    "dense 1 (the first)",
]


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_bad_layer_and_array_names_are_refused(name: str):
    doc = doc_of(good_file())
    rename_layer(doc, "dense_0", name)
    refuse(repack(doc), "code points, none of them '.' or a control character")
    doc = doc_of(good_file())
    rename_array(doc, "dense_0", "weights", name)
    refuse(repack(doc), "code points, none of them '.' or a control character")


@pytest.mark.parametrize("name", GOOD_NAMES, ids=repr)
def test_names_count_code_points_and_only_cc_is_a_control(name: str):
    doc = doc_of(good_file())
    rename_layer(doc, "dense_0", name)
    assert nnf.inspect(repack(doc))["layers"][0]["name"] == name
    model = nnf.loads(repack(doc))
    assert model.layers[0].name == name


@pytest.mark.parametrize("name", ["next line\x85", "x" * (NAME_MAX + 1), "a.b"], ids=repr)
def test_the_writer_refuses_what_the_reader_would(name: str):
    model = nnf.Sequential([Dense(output_size=2)], input_shape=(3,)).build(seed=0)
    model.layers[0].name = name
    with pytest.raises(ConfigError, match="control character"):
        model.to_bytes()


# ---------------------------------------------------------------------------------- configs
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_nnf_writes_every_option_of_every_builtin_layer(case):
    key, config, shape = case
    cls = nnf.get_layer(key)
    model = nnf.Sequential([cls.from_config(config)], input_shape=shape).build(seed=0)
    saved = nnf.inspect(model.to_bytes())["layers"][0]["config"]
    assert list(saved) == sorted(cls.config_fields())


def pool_dense_file() -> bytes:
    layers = [MaxPool2D(), Flatten(), Dense(output_size=3)]
    return nnf.Sequential(layers, input_shape=(1, 4, 4)).build(seed=0).to_bytes()


def test_a_missing_option_reads_as_its_default():
    doc = doc_of(pool_dense_file())
    for option in ("pool_size", "stride"):
        del doc["model"]["layers"][0]["config"][option]
    for option in ("init", "input_size"):
        del doc["model"]["layers"][2]["config"][option]
    loaded = nnf.loads(repack(doc))
    assert loaded.layers[0].get_config() == {"pool_size": 2, "stride": None}
    assert loaded.layers[2].get_config() == {"input_size": None, "output_size": 3, "init": "glorot"}
    assert loaded.layers[0].out_shape == (1, 2, 2)


@pytest.mark.parametrize(
    ("layer", "option"),
    [(0, "pool_size"), (2, "init"), (2, "output_size")],
)
def test_null_is_refused_where_the_type_has_no_null(layer: int, option: str):
    doc = doc_of(pool_dense_file())
    doc["model"]["layers"][layer]["config"][option] = None
    refuse(repack(doc), "cannot be created from its saved config")


def test_an_unknown_option_is_refused():
    doc = doc_of(good_file())
    doc["model"]["layers"][0]["config"]["units"] = 3
    refuse(repack(doc), "has no option 'units'")


# ----------------------------------------------------------------------------------- depth
def nested(levels: int) -> list:
    value: list = []
    for _ in range(levels - 1):
        value = [value]
    return value


def test_config_depth_counts_the_config_map_as_level_one():
    doc = doc_of(good_file())
    doc["model"]["layers"][0]["config"]["deep"] = nested(MAX_CONFIG_DEPTH - 1)  # 32 in all
    nnf.inspect(repack(doc))  # decodes: the depth rule holds (the layer would refuse it)
    doc["model"]["layers"][0]["config"]["deep"] = nested(MAX_CONFIG_DEPTH)  # 33 in all
    refuse(repack(doc), "nests deeper than 32 levels")
    doc["model"]["layers"][0]["config"]["deep"] = [[1] * 3]  # scalars add no level
    nnf.inspect(repack(doc))


def test_the_writer_uses_the_same_depth_count():
    from nnf.io.encode import to_plain

    assert to_plain({"a": nested(MAX_CONFIG_DEPTH - 1)}, "config")
    with pytest.raises(ConfigError, match="nests deeper than 32"):
        to_plain({"a": nested(MAX_CONFIG_DEPTH)}, "config")


def test_file_depth_counts_the_top_level_map_as_level_one():
    key = msgpack.packb("k")
    deepest = b"\x81" + key + b"\x91" * (MAX_FILE_DEPTH - 2) + b"\x90"  # 1024 containers
    refuse(with_trailer(deepest[:1].replace(b"\x81", b"\x82") + deepest[1:]), "no 'format'")
    deeper = b"\x82" + key + b"\x91" * (MAX_FILE_DEPTH - 1) + b"\x90"  # 1025
    refuse(with_trailer(deeper), "not valid msgpack")


# ------------------------------------------------------- what an old reader can always find
@pytest.mark.parametrize("writer", [{"nnf": "9.1"}, {"nnf": "9.1", "new": {}}, None])
def test_a_newer_file_of_any_layout_asks_for_an_upgrade(writer):
    doc = {
        "format": "nnf-model",
        "format_version": 2,
        "graph": {"nodes": [1, 2, 3]},  # everything else may change in a later version
        "tensors": [b"\x00"],
    }
    if writer is not None:
        doc["writer"] = writer
    message = refuse(repack(doc), "format version 2 but this nnf reads versions up to 1")
    assert ("upgrade nnf to >= 9.1" if writer else "the release that wrote it") in message
