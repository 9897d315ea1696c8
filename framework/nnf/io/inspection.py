"""What a file holds and needs, read without importing any plugin."""

from __future__ import annotations

import os
from typing import Any

from .decode import ModelFile, decode
from .durable import read_limited
from .spec import FORMAT_MARKER, size_limit


def inspect(source: str | os.PathLike[str] | bytes, max_bytes: int | None = None) -> dict[str, Any]:
    """A plain-dict report of a ``.nnf`` file (a path or its bytes).

    Keys: ``format``, ``format_version``, ``size``, ``sha256``, ``writer`` (nnf version),
    ``model`` (class, name, input_shape, dtype, seed), ``layers`` (name, key, version,
    config, params/state as ``{name: {"shape", "dtype"}}``), ``num_params``,
    ``required_plugins`` (key, dist, version, installed), ``optimizer`` (name, config,
    iterations) or None, ``training`` (epoch, seed, loss, epochs_recorded) or None,
    ``metadata``. The file is fully validated; only the registry's metadata is consulted.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        data = read_limited(source, size_limit(max_bytes))
    return report(decode(data, max_bytes), len(data))


def _arrays(mf: ModelFile, layer: str, names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    out = {}
    for n in names:
        a = mf.tensors[f"{layer}.{n}"]
        out[n] = {"shape": list(a.shape), "dtype": a.dtype.name}
    return out


def report(mf: ModelFile, size: int) -> dict[str, Any]:
    from ..registry import REGISTRY  # reads entry-point metadata only; imports no plugin

    layers = [
        {
            "name": rec.name,
            "key": rec.key,
            "version": rec.version,
            "config": rec.config,
            "params": _arrays(mf, rec.name, rec.params),
            "state": _arrays(mf, rec.name, rec.state),
        }
        for rec in mf.layers
    ]
    num_params = sum(mf.tensors[f"{rec.name}.{p}"].size for rec in mf.layers for p in rec.params)
    plugins = [
        {
            "key": key,
            "dist": plugin.dist,
            "version": plugin.version,
            "installed": REGISTRY.entry(key) is not None,
        }
        for key, plugin in sorted(mf.plugins.items())
    ]
    optimizer = None
    if mf.optimizer is not None:
        optimizer = {
            "name": mf.optimizer.name,
            "config": mf.optimizer.config,
            "iterations": mf.optimizer.iterations,
        }
    training = None
    if mf.training is not None:
        training = {
            "epoch": mf.training.epoch,
            "seed": mf.training.seed,
            "loss": mf.training.loss,
            "epochs_recorded": len(mf.training.history or ()),
        }
    return {
        "format": FORMAT_MARKER,
        "format_version": mf.format_version,
        "size": size,
        "sha256": mf.digest.hex(),
        "writer": {"nnf": mf.nnf_version},
        "model": {
            "class": mf.model_class,
            "name": mf.name,
            "input_shape": list(mf.input_shape),
            "dtype": mf.dtype,
            "seed": mf.seed,
        },
        "layers": layers,
        "num_params": int(num_params),
        "required_plugins": plugins,
        "optimizer": optimizer,
        "training": training,
        "metadata": dict(mf.metadata),
    }
