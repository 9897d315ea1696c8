"""Every kind of bad file fails with a one-line ModelFormatError naming the problem."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import msgpack
import nnf
import numpy as np
import pytest
from nnf.errors import ModelFormatError
from nnf.io.encode import pack_chunks
from nnf.io.spec import TRAILER_PREFIX
from nnf.layers import Dense, Tanh
from nnf_io_helpers import registered, small_model, trained_model


@pytest.fixture(scope="module")
def good() -> bytes:
    with registered():
        return trained_model("float32", epochs=1).to_bytes()


@pytest.fixture(autouse=True)
def _test_layers():
    with registered():
        yield


def doc_of(data: bytes) -> dict:
    doc = msgpack.unpackb(data)
    doc.pop("sha256")
    return doc


def repack(doc: dict) -> bytes:
    """Valid msgpack with a correct checksum: only the semantic checks can refuse it."""
    return b"".join(pack_chunks(doc))


def with_trailer(body_without_trailer: bytes) -> bytes:
    """Raw bytes + a correct trailer (the caller supplies a map header counting it)."""
    body = body_without_trailer + TRAILER_PREFIX
    return body + hashlib.sha256(body).digest()


def refuse(data: bytes, match: str, **kwargs) -> str:
    with pytest.raises(ModelFormatError, match=match) as info:
        nnf.loads(data, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------------- not nnf at all
@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", b'{"format": "nnf-model"}', b"PK\x03\x04" + b"\x00" * 60, os.urandom(500)],
)
def test_other_bytes_are_not_model_files(data: bytes):
    refuse(data, "not an nnf model file")


def test_loads_needs_bytes():
    refuse("a string", "a model file is bytes")  # type: ignore[arg-type]


def test_truncation_and_bit_flips_are_reported(good: bytes):
    refuse(good[:-1], "truncated")
    refuse(good[: len(good) // 2], "truncated")
    damaged = bytearray(good)
    damaged[len(good) // 2] ^= 0x10
    refuse(bytes(damaged), "corrupted: its sha256 checksum does not match")


def test_size_limit_is_checked_first(good: bytes, tmp_path: Path, monkeypatch):
    refuse(good, "over the 100-byte limit", max_bytes=100)
    path = tmp_path / "m.nnf"
    path.write_bytes(good)
    with pytest.raises(ModelFormatError, match="over the 100-byte limit"):
        nnf.load(path, max_bytes=100)
    monkeypatch.setenv("NNF_MAX_MODEL_BYTES", "100")
    with pytest.raises(ModelFormatError, match="over the 100-byte limit"):
        nnf.inspect(path)
    monkeypatch.setenv("NNF_MAX_MODEL_BYTES", "lots")
    with pytest.raises(ModelFormatError, match="not a whole number"):
        nnf.load(path)


def test_paths_that_are_not_files(tmp_path: Path):
    with pytest.raises(ModelFormatError, match="No such file"):
        nnf.load(tmp_path / "missing.nnf")
    with pytest.raises(ModelFormatError, match="not a regular file"):
        nnf.load(tmp_path)
    fifo = tmp_path / "pipe.nnf"
    os.mkfifo(fifo)
    with pytest.raises(ModelFormatError, match="not a regular file"):
        nnf.load(fifo)  # must not block waiting for a writer


# ----------------------------------------------------------------------- msgpack-level
def test_top_level_must_be_the_nnf_map():
    refuse(with_trailer(b"\x92"), "no 'format'")  # an array ending with the trailer
    refuse(with_trailer(b"\x82" + msgpack.packb("format") + msgpack.packb("x")), "no 'format'")


def test_stray_bytes_before_the_end(good: bytes):
    prefix = msgpack.packb(1) + good[:-32]
    refuse(prefix + hashlib.sha256(prefix).digest(), "stray bytes")


def test_duplicate_and_non_string_keys():
    dup = b"\x83" + msgpack.packb("format") + msgpack.packb("nnf-model")
    dup += msgpack.packb("format") + msgpack.packb("nnf-model")
    refuse(with_trailer(dup), "appears twice")
    refuse(with_trailer(b"\x82" + msgpack.packb(1) + msgpack.packb(2)), "not valid msgpack")
    refuse(with_trailer(b"\x82" + msgpack.packb(b"k") + msgpack.packb(2)), "keys must be strings")


def test_extension_types_are_refused(good: bytes):
    doc = doc_of(good)
    doc["metadata"] = {"x": msgpack.ExtType(5, b"payload")}
    refuse(repack(doc), "extension types are not allowed")
    doc["metadata"] = {"x": msgpack.Timestamp(0, 0)}  # msgpack decodes these without ext_hook
    refuse(repack(doc), "extension types are not allowed")


def test_deep_nesting_is_refused_without_recursion_errors(good: bytes):
    deep = b"\x81" + msgpack.packb("a") + b"\x91" * 5000 + b"\xc0"
    refuse(with_trailer(deep[:1].replace(b"\x81", b"\x82") + deep[1:]), "not valid msgpack")
    doc = doc_of(good)
    nested: list = []
    for _ in range(40):
        nested = [nested]
    doc["model"]["layers"][0]["config"]["units"] = nested
    refuse(repack(doc), "nests deeper than 32")


def test_huge_declared_lengths_fail_before_allocating(good: bytes):
    for header in (b"\xdb\xff\xff\xff\xf0", b"\xc6\xff\xff\xff\xf0", b"\xdd\xff\xff\xff\xf0"):
        body = b"\x82" + msgpack.packb("format") + header
        refuse(with_trailer(body), "not valid msgpack")
    refuse(with_trailer(b"\x82" + b"\xdf\xff\xff\xff\xff"), "not valid msgpack")


# ------------------------------------------------------------------------------ schema
def mutate(good: bytes, fn) -> bytes:
    doc = doc_of(good)
    fn(doc)
    return repack(doc)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d.update(format="other"), "no 'format'"),
        (lambda d: d.update(format_version="1"), "format_version must be"),
        (lambda d: d.update(format_version=-3), "format_version must be"),
        (lambda d: d.update(extra=1), "unknown entries 'extra'"),
        (lambda d: d.pop("model"), "lacks model"),
        (lambda d: d["writer"].update(nnf=5), "writer.nnf must be a string"),
        (lambda d: d["model"].update({"class": "Graph"}), "model.class must be 'Sequential'"),
        (lambda d: d["model"].update(input_shape=[0]), "input_shape"),
        (lambda d: d["model"].update(input_shape=[True]), "input_shape"),
        (lambda d: d["model"].update(dtype="int8"), "model.dtype"),
        (lambda d: d["model"].update(seed=-1), "model.seed"),
        (lambda d: d["model"].update(layers=[]), "non-empty"),
        (lambda d: d["model"]["layers"][0].update(name="a.b"), "none of them '.'"),
        (lambda d: d["model"]["layers"][0].update(name=""), "none of them '.'"),
        (lambda d: d["model"]["layers"][3].update(name="affine_0"), "used by two layers"),
        (lambda d: d["model"]["layers"][0].update(key="Affine"), "registry key"),
        (lambda d: d["model"]["layers"][0].update(version=0), "version"),
        (lambda d: d["model"]["layers"][0].update(config=[]), "config must be a map"),
        (lambda d: d["model"]["layers"][0]["config"].update(units=b"\x00"), "holds a bytes"),
        (lambda d: d["model"]["layers"][0].update(params=["bias", "bias"]), "twice"),
        (lambda d: d["model"]["layers"][0].update(params=["bias"]), "not listed by any layer"),
        (lambda d: d["model"]["layers"][0].update(params=["bias", "w", "weights"]), "missing"),
        (lambda d: d["writer"]["plugins"].pop("test.Tanh.v1"), "writer.plugins must name"),
        (lambda d: d["writer"]["plugins"]["test.Tanh.v1"].update(dist=3), "dist must be"),
        (lambda d: d["tensors"].pop("affine_0.bias"), "missing affine_0.bias"),
        (lambda d: d["metadata"].update(k=1), "metadata must be a map of strings"),
        (lambda d: d.update(metadata=[]), "metadata must be a map"),
    ],
)
def test_schema_violations(good: bytes, change, match: str):
    refuse(mutate(good, change), match)


def _tensor(d: dict, path: str = "affine_0.weights") -> dict:
    return d["tensors"][path]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: _tensor(d).update(dtype="object"), "dtype 'object'"),
        (lambda d: _tensor(d).update(dtype="complex64"), "dtype 'complex64'"),
        (lambda d: _tensor(d).update(shape=[1] * 9), "at most 8"),
        (lambda d: _tensor(d).update(shape=[-1, 30]), "non-negative"),
        (lambda d: _tensor(d).update(shape=[True, 30]), "non-negative"),
        (lambda d: _tensor(d).update(shape=[2**40, 2**40, 2**40]), "below 2\\*\\*31"),
        (lambda d: _tensor(d).update(shape=[2**20, 2**20, 2**20]), "holds 120 bytes"),
        (lambda d: _tensor(d).update(shape=[2**62, 2**62, 0]), "shape"),
        (lambda d: _tensor(d).update(data=_tensor(d)["data"][:-4]), "holds 116 bytes"),
        (lambda d: _tensor(d).update(data="text"), "must be msgpack bin"),
        (lambda d: _tensor(d).update(extra=1), "exactly the keys"),
    ],
)
def test_tensor_violations(good: bytes, change, match: str):
    refuse(mutate(good, change), match)


def test_bool_tensors_hold_only_zero_and_one(good: bytes):
    def bad_bool(d):
        d["tensors"]["noise_1.calls"] = {"dtype": "bool", "shape": [2], "data": b"\x01\x02"}

    refuse(mutate(good, bad_bool), "bytes other than 0 and 1")


# ----------------------------------------------------------------- optimizer and training
@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d["optimizer"].update(name="adagrad"), "optimizer 'adagrad' is unknown"),
        (lambda d: d["optimizer"].update(name="rmsprop"), "rmsprop has no state slots named"),
        (lambda d: d["optimizer"].update(iterations=-1), "iterations"),
        (lambda d: d["optimizer"]["config"].update(learning_rate="x"), "cannot be restored"),
        (lambda d: d["optimizer"]["config"].update(nope=1), "cannot be restored"),
        (lambda d: d["optimizer"]["config"].update(beta1=[1]), "plain values"),
        (lambda d: d["optimizer"]["slots"].update(q={}), "no state slots named"),
        (
            lambda d: d["optimizer"]["slots"]["m"].update(
                {"noise_1.calls": d["tensors"]["noise_1.calls"]}
            ),
            "not a trainable parameter",
        ),
        (
            lambda d: d["optimizer"]["slots"]["m"].update(
                {"affine_0.weights": d["tensors"]["affine_0.bias"]}
            ),
            "but the parameter is",
        ),
        (lambda d: d["training"].update(epoch=-2), "training.epoch"),
        (lambda d: d["training"].update(loss="hinge"), "not a loss this nnf knows"),
        (lambda d: d["training"].update(history=[{"loss": True}]), "history"),
        (lambda d: d["training"].update(history={}), "history"),
        (lambda d: d["training"].update(extra=1), "unknown entries"),
    ],
)
def test_optimizer_and_training_violations(good: bytes, change, match: str):
    refuse(mutate(good, change), match)


# ---------------------------------------------------------------- rebuilding the layers
def test_unknown_key_is_never_imported(good: bytes):
    def evil(d):
        d["model"]["layers"][2]["key"] = "os.system.v1"
        d["writer"]["plugins"] = {
            "test.Affine.v1": d["writer"]["plugins"]["test.Affine.v1"],
            "test.Noise.v1": d["writer"]["plugins"]["test.Noise.v1"],
            "os.system.v1": {"dist": "evil", "version": "6.6.6"},
        }

    refuse(mutate(good, evil), "needs the plugin distribution evil 6.6.6")


def test_a_config_the_layer_rejects(good: bytes):
    def negative(d):
        d["model"]["layers"][0]["config"]["units"] = "many"

    refuse(mutate(good, negative), "cannot be (created|built)")


def test_huge_configs_fail_fast_without_allocating():
    model = nnf.Sequential([Dense(output_size=4), Tanh()], input_shape=(3,)).build(seed=0)
    good = model.to_bytes()

    def huge(d):
        d["model"]["layers"][0]["config"]["output_size"] = 10**9

    def huge_eager(d):  # a declared input size builds the layer inside from_config
        d["model"]["layers"][0]["config"].update(input_size=10**6, output_size=10**6)
        d["model"]["input_shape"] = [10**6]

    for change in (huge, huge_eager):
        start = time.perf_counter()
        refuse(mutate(good, change), "more parameters than the file holds")
        assert time.perf_counter() - start < 5  # a generous bound: allocating would take longer


def test_all_mismatches_are_reported_together(good: bytes):
    def reshape(d):
        d.pop("optimizer")
        d["model"]["input_shape"] = [6]  # affine_0.weights is now expected (6, 6)
        for path in ("affine_3.bias", "affine_3.weights"):
            a = np.zeros(np.prod(d["tensors"][path]["shape"]), np.float64)
            d["tensors"][path] = {"dtype": "float64", "shape": list(a.shape), "data": a.tobytes()}

    message = refuse(mutate(good, reshape), "does not match the rebuilt model")
    assert "affine_0.weights: shape (5, 6) in the file, (6, 6) expected" in message
    assert "affine_3.bias: dtype float64 in the file, float32 expected" in message
    assert "affine_3.weights: shape (18,) in the file, (6, 3) expected" in message


def test_param_saved_as_state_is_refused(good: bytes):
    def swap(d):
        d.pop("optimizer")
        layer = d["model"]["layers"][0]
        layer["params"], layer["state"] = ["weights"], ["bias"]

    refuse(mutate(good, swap), "wrong kind")


def test_missing_array_in_rebuilt_layer(good: bytes):
    def drop(d):
        d.pop("optimizer")
        layer = d["model"]["layers"][0]
        layer["params"] = ["weights"]
        del d["tensors"]["affine_0.bias"]

    refuse(mutate(good, drop), "affine_0.bias: missing from the file")


def test_well_formed_but_different_values_still_load(good: bytes):
    # The checksum guards against damage, not edits: an edited, re-hashed file is valid.
    doc = doc_of(good)
    doc["metadata"] = {"edited": "yes"}
    assert nnf.inspect(repack(doc))["metadata"] == {"edited": "yes"}
    assert isinstance(nnf.loads(repack(doc)), nnf.Sequential)
    assert small_model  # the helper module stays importable
