"""A model to the bytes of a ``.nnf`` file: one msgpack map, sorted keys, sha256 trailer.

Same model, same bytes: every map is written in sorted key order and nothing depends on
the clock, the process or the machine (tensor data is little-endian whatever the CPU).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import msgpack
import numpy as np

from ..errors import ConfigError, NotBuiltError
from .spec import (
    CHECKSUM_KEY,
    DIGEST_SIZE,
    FORMAT_MARKER,
    FORMAT_VERSION,
    MAX_CONFIG_DEPTH,
    TRAILER_PREFIX,
    valid_name,
)
from .tensors import encode_tensor

if TYPE_CHECKING:
    from ..model import Sequential

TRAINING_KEYS = ("epoch", "seed", "history")
# Per-epoch entries ``fit`` records but ``save`` leaves out: they differ from run to run.
UNSAVED_HISTORY_KEYS = frozenset({"seconds"})


def dumps(
    model: Sequential,
    include_optimizer: bool = True,
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """The bytes of ``model``'s file (see docs/format.md)."""
    return b"".join(pack_chunks(document(model, include_optimizer, metadata)))


def pack_chunks(doc: dict[str, Any]) -> Iterator[bytes]:
    """Pack ``doc`` as a map with sorted keys followed by the ``sha256`` trailer entry.

    Yields pieces so that ``save`` can stream them to disk without joining them first.
    """
    packer = msgpack.Packer(use_bin_type=True)
    digest = hashlib.sha256()
    keys = sorted(doc)
    head = packer.pack_map_header(len(keys) + 1)
    digest.update(head)
    yield head
    for key in keys:
        piece = packer.pack(key) + packer.pack(_sorted(doc[key]))
        digest.update(piece)
        yield piece
    digest.update(TRAILER_PREFIX)
    value = digest.digest()
    assert packer.pack(CHECKSUM_KEY) + packer.pack(value) == TRAILER_PREFIX + value
    assert len(value) == DIGEST_SIZE
    yield TRAILER_PREFIX + value


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def to_plain(value: Any, where: str, depth: int = 1) -> Any:
    """``value`` as msgpack-safe plain data (tuples -> lists, NumPy scalars -> numbers).

    Depth counts containers as the reader does (``decode.check_plain``): ``value`` is depth 1.
    """
    if isinstance(value, (list, tuple, Mapping)) and depth > MAX_CONFIG_DEPTH:
        raise ConfigError(
            f"{where} nests deeper than {MAX_CONFIG_DEPTH} levels (the config map is level 1)"
        )
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, float, str)):
        return value
    if isinstance(value, int):
        if not -(2**63) <= value < 2**64:
            raise ConfigError(f"{where} = {value} does not fit in 64 bits")
        return value
    if isinstance(value, (list, tuple)):
        return [to_plain(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError(f"{where} has the key {k!r}: keys must be strings")
            out[k] = to_plain(v, f"{where}.{k}", depth + 1)
        return out
    raise ConfigError(
        f"{where} is a {type(value).__name__}, which a model file cannot hold; "
        "configs hold None, bools, numbers, strings, lists and dicts"
    )


# ------------------------------------------------------------------------- the document
def document(
    model: Sequential,
    include_optimizer: bool = True,
    metadata: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The file's map (without the trailer) for ``model``; raises ConfigError if unsavable."""
    import nnf

    if not model.built:
        raise NotBuiltError(
            "the model has no parameters yet: build or train it (model.build(...)) before saving"
        )
    layers, tensors, plugins = [], {}, {}
    for i, layer in enumerate(model.layers):
        record, arrays = _layer(layer, i)
        layers.append(record)
        tensors.update(arrays)
        plugins[record["key"]] = _provider(record["key"], layer, i)
        for inner in nested_layers(layer):  # a block's inner layers come from plugins too
            plugins[type(inner).key] = _provider(type(inner).key, inner, i)
    doc: dict[str, Any] = {
        "format": FORMAT_MARKER,
        "format_version": FORMAT_VERSION,
        "writer": {"nnf": nnf.__version__, "plugins": plugins},
        "model": {
            "class": "Sequential",
            "name": str(model.name),
            "input_shape": [int(d) for d in model.input_shape or ()],
            "dtype": model.dtype.name,
            "seed": to_plain(model.seed, "model.seed"),
            "layers": layers,
        },
        "tensors": tensors,
        "metadata": _metadata({**getattr(model, "metadata", {}), **(metadata or {})}),
    }
    if include_optimizer and model.optimizer is not None:
        doc["optimizer"] = _optimizer(model, tensors)
    training = _training(model)
    if training:
        doc["training"] = training
    return doc


def nested_layers(layer: Any, depth: int = 0) -> Iterator[Any]:
    """Every layer held inside ``layer`` (``layer.sublayers()``, e.g. a Residual's), recursively."""
    if depth > MAX_CONFIG_DEPTH:
        raise ConfigError(f"{layer.label} nests layers deeper than {MAX_CONFIG_DEPTH} levels")
    for inner in getattr(layer, "sublayers", lambda: [])():
        yield inner
        yield from nested_layers(inner, depth + 1)


def _layer(layer: Any, index: int) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    where = f"layer {index} {layer.label}"
    if not valid_name(layer.name):
        raise ConfigError(
            f"{where}: the name {layer.name!r} cannot be saved; use 1-128 code points, none "
            "of them '.' or a control character (U+0000-U+001F, U+007F-U+009F)"
        )
    params, state = dict(layer.params), dict(layer.state)
    for name in [*params, *state]:
        if not valid_name(name):
            raise ConfigError(
                f"{where}: array name {name!r} cannot be saved; use 1-128 code points, none "
                "of them '.' or a control character"
            )
    if set(params) & set(state):
        raise ConfigError(f"{where}: {sorted(set(params) & set(state))} is both param and state")
    record = {
        "name": layer.name,
        "key": type(layer).key,
        "version": int(type(layer).version),
        "config": to_plain(layer.get_config(), f"{where} config"),
        "params": sorted(params),
        "state": sorted(state),
    }
    arrays = {
        f"{layer.name}.{k}": encode_tensor(v, f"{layer.name}.{k}")
        for table in (params, state)
        for k, v in table.items()
    }
    return record, arrays


def _provider(key: str, layer: Any, index: int) -> dict[str, Any]:
    from ..errors import PluginLoadError
    from ..registry import REGISTRY

    entry = REGISTRY.entry(key) if key else None
    if entry is None:
        raise ConfigError(
            f"layer {index} {layer.label} has key {key!r}, which is not registered, so the file "
            "could not be loaded: register the class with nnf.register_layer (key "
            "'namespace.Name.v1') or install its plugin"
        )
    try:
        registered = REGISTRY.get(key)
    except PluginLoadError as exc:
        raise ConfigError(f"layer {index} {layer.label}: {exc}") from None
    if registered is not type(layer):
        # A subclass that inherits its parent's key would load back as the parent.
        kind = type(layer).__name__
        raise ConfigError(
            f"layer {index} {layer.label} is a {kind} but its key {key!r} belongs to "
            f"{registered.__qualname__}: give {kind} its own key and register it"
        )
    return {"dist": entry.dist, "version": entry.dist_version}


def _metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    metadata = dict(metadata or {})
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise ConfigError(f"metadata must map strings to strings; got {k!r}: {v!r:.60}")
    return metadata


def _optimizer(model: Sequential, tensors: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from ..optimizers import OPTIMIZERS

    assert model.optimizer is not None  # dumps calls this only with one
    if OPTIMIZERS.get(model.optimizer.name) is not type(model.optimizer):
        raise ConfigError(
            f"the optimizer {type(model.optimizer).__name__} is not one nnf can rebuild from a "
            "file: save with include_optimizer=False"
        )
    state = model.optimizer.state_dict()
    trainable = {f"{layer.name}.{k}" for layer in model.layers for k in layer.params}
    slots: dict[str, dict[str, Any]] = {}
    for slot, table in state.get("slots", {}).items():
        slots[slot] = {}
        for path, array in table.items():
            if path not in trainable:
                raise ConfigError(
                    f"the optimizer holds state for {path!r}, which is not a parameter of this "
                    "model: save with include_optimizer=False or use a fresh optimizer"
                )
            slots[slot][path] = encode_tensor(array, f"optimizer slot {slot} {path}")
            if slots[slot][path]["shape"] != tensors[path]["shape"]:
                raise ConfigError(f"optimizer slot {slot} {path} is not shaped like the parameter")
    return {
        "name": state["name"],
        "config": to_plain(state["config"], "optimizer config"),
        "iterations": int(state["iterations"]),
        "slots": slots,
    }


def _training(model: Sequential) -> dict[str, Any]:
    state = dict(model.training_state or {})
    unknown = sorted(set(state) - set(TRAINING_KEYS))
    if unknown:
        raise ConfigError(
            f"model.training_state has entries {unknown} that the file format does not hold"
        )
    if "history" in state:  # wall-clock timings stay out: same training, same bytes
        state["history"] = [_untimed(logs) for logs in state["history"]]
    out = {k: to_plain(state[k], f"training_state[{k!r}]") for k in TRAINING_KEYS if k in state}
    loss = getattr(model, "loss", None)
    if loss is not None and _known_loss(loss):
        out["loss"] = str(loss.name)  # a custom loss is the script's to supply again
    return out


def _untimed(logs: Any) -> Any:
    """One epoch's history entry without the run-dependent ``seconds`` it took."""
    if isinstance(logs, Mapping):
        return {k: v for k, v in logs.items() if k not in UNSAVED_HISTORY_KEYS}
    return logs  # not a map: to_plain reports it or the reader rejects it


def _known_loss(loss: Any) -> bool:
    from ..losses import LOSSES

    return type(loss) is LOSSES.get(str(getattr(loss, "name", "")))
