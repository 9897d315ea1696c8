"""Strict validation of a decoded document into typed records; imports no plugin.

Every check raises ``ModelFormatError`` naming the field (``model.layers[2].config``). Tensors
come out as read-only arrays viewing the file's bytes; nothing large is allocated here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
import numpy as np

from ..errors import ModelFormatError
from ..keys import is_key
from .spec import (
    CHECKSUM_KEY,
    FORMAT_MARKER,
    MAX_CONFIG_DEPTH,
    migrate,
    size_limit,
    valid_name,
)
from .tensors import _kind, decode_tensor
from .unpack import check_integrity, unpack

TOP_REQUIRED = ("format", "format_version", "writer", "model", "tensors", "metadata", CHECKSUM_KEY)
TOP_OPTIONAL = ("optimizer", "training")
MODEL_DTYPES = ("float32", "float64")
SEED_MAX = 2**64 - 1


@attrs.frozen
class Plugin:
    """Where a layer key came from when the file was written."""

    dist: str
    version: str | None


@attrs.frozen
class LayerRecord:
    name: str
    key: str
    version: int
    config: dict[str, Any]
    params: tuple[str, ...]
    state: tuple[str, ...]


@attrs.frozen
class OptimizerRecord:
    name: str
    config: dict[str, Any]
    iterations: int
    slots: dict[str, dict[str, np.ndarray]]


@attrs.frozen
class TrainingRecord:
    epoch: int | None
    seed: int | None
    loss: str | None
    history: list[dict[str, int | float]] | None


@attrs.frozen
class ModelFile:
    """A validated file (migrated to the current format; ``format_version`` is the one the
    file was written in). ``tensors`` maps ``layer.param`` to a read-only array."""

    format_version: int
    nnf_version: str
    plugins: dict[str, Plugin]
    model_class: str
    name: str
    input_shape: tuple[int, ...]
    dtype: str
    seed: int | None
    layers: tuple[LayerRecord, ...]
    tensors: dict[str, np.ndarray]
    optimizer: OptimizerRecord | None
    training: TrainingRecord | None
    metadata: dict[str, str]
    digest: bytes


def decode(data: Any, limit: int | None = None) -> ModelFile:
    """Check and decode a file's bytes; raises ``ModelFormatError`` for anything invalid."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ModelFormatError(f"a model file is bytes, got {type(data).__name__}")
    data = bytes(data) if not isinstance(data, bytes) else data
    digest = check_integrity(data, size_limit(limit))
    doc = unpack(data)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_MARKER:
        raise ModelFormatError(f"not an nnf model file: no 'format': {FORMAT_MARKER!r} entry")
    version = doc.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ModelFormatError(f"format_version must be a non-negative integer, got {version!r}")
    writer = doc.get("writer")
    writer_nnf = writer.get("nnf") if isinstance(writer, dict) else None
    doc = migrate(doc, version, writer_nnf)
    return _validate(doc, digest, version)


# ------------------------------------------------------------------------------ helpers
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fields(value: Any, where: str, required: Iterable[str], optional: Iterable[str] = ()) -> dict:
    """``value`` as a map holding every required key and no key outside required + optional."""
    if not isinstance(value, dict):
        raise ModelFormatError(f"{where} must be a map, got {_kind(value)}")
    required = tuple(required)
    missing = [k for k in required if k not in value]
    if missing:
        raise ModelFormatError(f"{where} lacks {', '.join(missing)}")
    unknown = sorted(set(value) - set(required) - set(optional))
    if unknown:
        shown = ", ".join(repr(k[:40]) for k in unknown[:5])
        raise ModelFormatError(f"{where} has unknown entries {shown}")
    return value


def _str(value: Any, where: str, max_len: int = 1024) -> str:
    if not isinstance(value, str) or len(value) > max_len:
        raise ModelFormatError(f"{where} must be a string of at most {max_len} characters")
    return value


def _opt_int(value: Any, where: str, lo: int = 0, hi: int = SEED_MAX) -> int | None:
    if value is None:
        return None
    if not _is_int(value) or not lo <= value <= hi:
        raise ModelFormatError(f"{where} must be an integer in [{lo}, {hi}] or nil")
    return value


def _name(value: Any, where: str) -> str:
    if not valid_name(value):
        raise ModelFormatError(
            f"{where} is {_kind(value) if not isinstance(value, str) else repr(value[:60])}: "
            "a name is 1-128 code points, none of them '.' or a control character "
            "(U+0000-U+001F, U+007F-U+009F)"
        )
    return value


def check_plain(value: Any, where: str) -> None:
    """A JSON-like value: nil, bool, int, float, str, lists, maps with str keys.

    Depth counts containers only: ``value`` (a config map) is depth 1, a list or map inside a
    container of depth d is at depth d + 1, and none may be deeper than 32.
    """
    stack = [(value, where, 1)]
    while stack:
        item, path, depth = stack.pop()
        if item is None or isinstance(item, (bool, int, float, str)):
            continue
        if not isinstance(item, (list, dict)):
            raise ModelFormatError(f"{path} holds a {_kind(item)}, which configs may not")
        if depth > MAX_CONFIG_DEPTH:
            raise ModelFormatError(
                f"{path} nests deeper than {MAX_CONFIG_DEPTH} levels (the config map is level 1)"
            )
        if isinstance(item, list):
            inner = f"{path}[]"  # one path per list, not per element: lists may be long
            stack.extend((v, inner, depth + 1) for v in item)
        else:
            stack.extend((v, f"{path}.{k[:40]}", depth + 1) for k, v in item.items())


# --------------------------------------------------------------------------- validation
def _validate(doc: dict[str, Any], digest: bytes, version: int) -> ModelFile:
    _fields(doc, "the file", TOP_REQUIRED, TOP_OPTIONAL)
    writer = _fields(doc["writer"], "writer", ("nnf", "plugins"))
    nnf_version = _str(writer["nnf"], "writer.nnf", 64)
    model = _fields(
        doc["model"], "model", ("class", "name", "input_shape", "dtype", "seed", "layers")
    )
    if model["class"] != "Sequential":
        raise ModelFormatError(f"model.class must be 'Sequential', got {model['class']!r:.60}")
    shape = model["input_shape"]
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= 8
        or not all(_is_int(d) and d > 0 for d in shape)
    ):
        raise ModelFormatError("model.input_shape must be a list of 1 to 8 positive integers")
    if model["dtype"] not in MODEL_DTYPES:
        raise ModelFormatError(
            f"model.dtype must be float32 or float64, got {model['dtype']!r:.60}"
        )
    layers = _layers(model["layers"])
    plugins = _plugins(writer["plugins"], layers)
    tensors = _tensors(doc["tensors"], layers)
    optimizer = None
    if "optimizer" in doc:
        optimizer = _optimizer(doc["optimizer"], layers, tensors)
    training = _training(doc["training"]) if "training" in doc else None
    metadata = doc["metadata"]
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ModelFormatError("metadata must be a map of strings to strings")
    if doc[CHECKSUM_KEY] != digest:
        raise ModelFormatError("the sha256 entry is not the file's last entry")
    return ModelFile(
        format_version=version,  # as written; the document was migrated to the current one
        nnf_version=nnf_version,
        plugins=plugins,
        model_class="Sequential",
        name=_str(model["name"], "model.name"),
        input_shape=tuple(shape),
        dtype=model["dtype"],
        seed=_opt_int(model["seed"], "model.seed"),
        layers=layers,
        tensors=tensors,
        optimizer=optimizer,
        training=training,
        metadata=metadata,
        digest=digest,
    )


def _layers(value: Any) -> tuple[LayerRecord, ...]:
    if not isinstance(value, list) or not value:
        raise ModelFormatError("model.layers must be a non-empty list")
    out, seen = [], set()
    for i, raw in enumerate(value):
        where = f"model.layers[{i}]"
        rec = _fields(raw, where, ("name", "key", "version", "config", "params", "state"))
        name = _name(rec["name"], f"{where}.name")
        if name in seen:
            raise ModelFormatError(f"{where}.name {name!r} is used by two layers")
        seen.add(name)
        key = rec["key"]
        if not is_key(key):
            raise ModelFormatError(f"{where}.key must be a registry key like 'acme.Name.v1'")
        version = _opt_int(rec["version"], f"{where}.version", 1, 2**31 - 1)
        if version is None:
            raise ModelFormatError(f"{where}.version must be a positive integer")
        config = rec["config"]
        if not isinstance(config, dict):
            raise ModelFormatError(f"{where}.config must be a map")
        check_plain(config, f"{where}.config")
        names = []
        for part in ("params", "state"):
            items = rec[part]
            if not isinstance(items, list):
                raise ModelFormatError(f"{where}.{part} must be a list of names")
            names.append(tuple(_name(n, f"{where}.{part}[{j}]") for j, n in enumerate(items)))
        if len(set(names[0] + names[1])) != len(names[0]) + len(names[1]):
            raise ModelFormatError(f"{where} lists a parameter or state name twice")
        out.append(LayerRecord(name, key, version, config, names[0], names[1]))
    return tuple(out)


def _plugins(value: Any, layers: tuple[LayerRecord, ...]) -> dict[str, Plugin]:
    if not isinstance(value, dict):
        raise ModelFormatError("writer.plugins must be a map")
    used = {rec.key for rec in layers}
    if not used <= set(value):
        odd = sorted(used - set(value))[:3]
        raise ModelFormatError(
            f"writer.plugins must name every layer key of the model; lacks {odd}"
        )
    out = {}
    for key, raw in value.items():
        # Other keys are those of layers nested in a layer (a Residual's inner layers).
        if not is_key(key):
            raise ModelFormatError("writer.plugins keys must be registry keys like 'acme.Name.v1'")
        rec = _fields(raw, f"writer.plugins[{key!r}]", ("dist", "version"))
        dist = _str(rec["dist"], f"writer.plugins[{key!r}].dist", 200)
        version = rec["version"]
        if version is not None:
            version = _str(version, f"writer.plugins[{key!r}].version", 64)
        out[key] = Plugin(dist, version)
    return out


def _tensors(value: Any, layers: tuple[LayerRecord, ...]) -> dict[str, np.ndarray]:
    if not isinstance(value, dict):
        raise ModelFormatError("tensors must be a map")
    expected = [f"{rec.name}.{n}" for rec in layers for n in rec.params + rec.state]
    missing = [p for p in expected if p not in value]
    unknown = sorted(set(value) - set(expected))
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:10])}")
        if unknown:
            parts.append(f"not listed by any layer: {', '.join(k[:60] for k in unknown[:10])}")
        raise ModelFormatError(f"tensors do not match the layers' lists: {'; '.join(parts)}")
    return {path: decode_tensor(value[path], f"tensors[{path!r}]") for path in expected}


def _optimizer(
    value: Any, layers: tuple[LayerRecord, ...], tensors: dict[str, np.ndarray]
) -> OptimizerRecord:
    rec = _fields(value, "optimizer", ("name", "config", "iterations", "slots"))
    name = _str(rec["name"], "optimizer.name", 64)
    config = rec["config"]
    if not isinstance(config, dict) or not all(
        v is None or isinstance(v, (bool, int, float, str)) for v in config.values()
    ):
        raise ModelFormatError("optimizer.config must be a map of names to plain values")
    iterations = _opt_int(rec["iterations"], "optimizer.iterations", 0, 2**63 - 1)
    if iterations is None:
        raise ModelFormatError("optimizer.iterations must be a non-negative integer")
    if not isinstance(rec["slots"], dict):
        raise ModelFormatError("optimizer.slots must be a map")
    trainable = {f"{r.name}.{p}" for r in layers for p in r.params}
    slots: dict[str, dict[str, np.ndarray]] = {}
    for slot, table in rec["slots"].items():
        if not valid_name(slot) or not isinstance(table, dict):
            raise ModelFormatError("optimizer.slots must map slot names to maps of tensors")
        slots[slot] = {}
        for path, raw in table.items():
            where = f"optimizer.slots[{slot!r}][{path[:60]!r}]"
            if path not in trainable:
                raise ModelFormatError(f"{where} is not a trainable parameter of the model")
            array = decode_tensor(raw, where)
            like = tensors[path]
            if array.shape != like.shape or array.dtype != like.dtype:
                raise ModelFormatError(
                    f"{where} is {array.dtype.name}{array.shape} but the parameter is "
                    f"{like.dtype.name}{like.shape}"
                )
            slots[slot][path] = array
    return OptimizerRecord(name, dict(config), iterations, slots)


def _training(value: Any) -> TrainingRecord:
    rec = _fields(value, "training", (), ("epoch", "seed", "loss", "history"))
    epoch = _opt_int(rec.get("epoch"), "training.epoch", 0, 2**63 - 1)
    seed = _opt_int(rec.get("seed"), "training.seed")
    loss = rec.get("loss")
    if loss is not None:
        loss = _str(loss, "training.loss", 64)
    history = rec.get("history")
    if history is not None and not isinstance(history, list):
        raise ModelFormatError("training.history must be a list of maps")
    for i, logs in enumerate(history or ()):
        if not isinstance(logs, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in logs.values()
        ):
            raise ModelFormatError(f"training.history[{i}] must map metric names to numbers")
    return TrainingRecord(epoch, seed, loss, history)
