"""A validated ``ModelFile`` to a live ``Sequential``, through the registry only.

A layer type resolves by its exact key among installed plugins (never by a module path), is
created with ``from_config`` and built; then every saved array is checked against what the
rebuilt layer expects, all mismatches are reported at once, and only then copied in.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ModelFormatError, PluginLoadError
from ..layer import Layer, deferred_build
from ..registry import BUILTIN_DIST, REGISTRY, SCRIPT_DIST, canonical_dist
from .decode import LayerRecord, ModelFile, Plugin


class BudgetRNG(np.random.Generator):
    """A Generator that refuses to draw more values than the file holds bytes.

    Rebuilding initialises weights before the saved ones replace them; a damaged config
    (``output_size=10**9``) must fail here, not allocate gigabytes.
    """

    def __init__(self, budget_bytes: int) -> None:
        super().__init__(np.random.PCG64(0))
        self._left = budget_bytes

    def _take(self, size: Any) -> None:
        count = 1
        for d in np.atleast_1d(np.asarray(size if size is not None else 1, dtype=object)):
            count *= int(d)
        self._left -= count * 8
        if self._left < 0:
            raise ModelFormatError("the layer configs ask for more parameters than the file holds")

    def standard_normal(self, size: Any = None, *args: Any, **kwargs: Any) -> Any:
        self._take(size)
        return super().standard_normal(size, *args, **kwargs)

    def normal(self, loc: Any = 0.0, scale: Any = 1.0, size: Any = None) -> Any:
        self._take(size)
        return super().normal(loc, scale, size)

    def uniform(self, low: Any = 0.0, high: Any = 1.0, size: Any = None) -> Any:
        self._take(size)
        return super().uniform(low, high, size)

    def random(self, size: Any = None, *args: Any, **kwargs: Any) -> Any:
        self._take(size)
        return super().random(size, *args, **kwargs)


def _to_install(dist: str) -> str:
    """The distribution to pip install: files written before nnf's distribution was renamed
    record its own layers as ``nnf``, which on the package index is an unrelated project."""
    return BUILTIN_DIST if canonical_dist(dist) == "nnf" else dist


def layer_class(rec: LayerRecord, plugin: Plugin, index: int) -> type[Layer]:
    """The installed class for ``rec.key``; a missing plugin names its distribution."""
    where = f"layer {index} {rec.name!r}" if index >= 0 else "a layer nested in another"
    if REGISTRY.entry(rec.key) is None:
        if plugin.dist == SCRIPT_DIST:
            raise ModelFormatError(
                f"{where} has type {rec.key!r}, which a script registered when the file was "
                "saved: define that class and register it with nnf.register_layer before loading"
            )
        dist = _to_install(plugin.dist)
        need = f"{dist} {plugin.version}" if plugin.version else dist
        spec = f"{dist}>={plugin.version}" if plugin.version else dist
        raise ModelFormatError(
            f"layer {rec.key!r} needs the plugin distribution {need}, which is not installed: "
            f"pip install '{spec}'"
        )
    try:
        return REGISTRY.get(rec.key)
    except PluginLoadError as exc:
        raise ModelFormatError(f"{where}: {exc}") from None


def _new_layer(cls: type[Layer], rec: LayerRecord, index: int) -> Layer:
    # deferred_build: a layer whose config fixes its size must not allocate before the
    # budgeted build below has checked that size against the file.
    try:
        with deferred_build():
            layer = cls.from_config(rec.config)
    except Exception as exc:  # a damaged config may make a plugin raise anything
        raise ModelFormatError(
            f"layer {index} {rec.name!r} ({rec.key}) cannot be created from its saved config: "
            f"{type(exc).__name__}: {str(exc)[:200]}"
        ) from None
    layer.name = rec.name
    return layer


def _build(model: Any, rng: BudgetRNG) -> None:
    """``model.build`` with a budgeted RNG (the saved arrays replace the initial values)."""
    try:
        model.build(rng=rng)
    except ModelFormatError:
        raise
    except Exception as exc:
        raise ModelFormatError(
            f"the model cannot be built: {type(exc).__name__}: {str(exc)[:200]}"
        ) from None


def _saved_arrays(mf: ModelFile, rec: LayerRecord, cls: type[Layer], index: int) -> dict:
    arrays = {n: mf.tensors[f"{rec.name}.{n}"] for n in rec.params + rec.state}
    if rec.version == cls.version:
        return arrays
    try:
        migrated = cls.migrate_state({k: native(v) for k, v in arrays.items()}, rec.version)
        return {str(k): np.asarray(v) for k, v in dict(migrated).items()}
    except Exception as exc:
        hint = ""
        if rec.version > cls.version:
            plugin = mf.plugins[rec.key]
            hint = f"; it was saved by {plugin.dist} {plugin.version or ''}".rstrip()
            dist = _to_install(plugin.dist)
            hint += f": pip install '{dist}>={plugin.version}'" if plugin.version else ""
        raise ModelFormatError(
            f"layer {index} {rec.name!r}: {rec.key} version {cls.version} cannot read arrays "
            f"saved by layer version {rec.version} ({type(exc).__name__}: {str(exc)[:160]}){hint}"
        ) from None


def native(array: np.ndarray) -> np.ndarray:
    """A writable copy in the machine's byte order (file data is little-endian)."""
    return array.astype(array.dtype.newbyteorder("="), copy=True)


def compare(path: str, shape: tuple[int, ...], dtype: np.dtype, live: np.ndarray) -> str | None:
    """Why an array of ``shape`` and ``dtype`` cannot replace ``live``, or None."""
    if tuple(shape) != live.shape:
        return f"{path}: shape {tuple(shape)} in the file, {live.shape} expected"
    if np.dtype(dtype).name != live.dtype.name:
        return f"{path}: dtype {np.dtype(dtype).name} in the file, {live.dtype.name} expected"
    return None


def rebuild(mf: ModelFile) -> Any:
    """The ``Sequential`` that ``mf`` describes, with its weights, optimizer and progress."""
    from ..model import Sequential

    classes = [layer_class(rec, mf.plugins[rec.key], i) for i, rec in enumerate(mf.layers)]
    nested = sorted(set(mf.plugins) - {rec.key for rec in mf.layers})
    for key in nested:  # layers inside layers: a missing plugin is named before any config runs
        inner = LayerRecord(name="", key=key, version=1, config={}, params=(), state=())
        layer_class(inner, mf.plugins[key], -1)
    budget = sum(a.nbytes for a in mf.tensors.values()) * 2 + (1 << 20)
    layers = [
        _new_layer(cls, rec, i) for i, (cls, rec) in enumerate(zip(classes, mf.layers, strict=True))
    ]
    try:
        model = Sequential(layers, input_shape=mf.input_shape, dtype=mf.dtype, name=mf.name)
    except Exception as exc:  # e.g. a plugin's from_config returning something odd
        raise ModelFormatError(
            f"the model cannot be assembled: {type(exc).__name__}: {str(exc)[:200]}"
        ) from None
    if [layer.name for layer in model.layers] != [rec.name for rec in mf.layers]:
        raise ModelFormatError("the file's layer names are not unique")
    _build(model, BudgetRNG(budget))
    model.seed = mf.seed  # build() drew a fresh seed; the file's is the model's

    problems: list[str] = []
    assignments: list[tuple[np.ndarray, np.ndarray]] = []
    for i, (layer, rec, cls) in enumerate(zip(model.layers, mf.layers, classes, strict=True)):
        saved = _saved_arrays(mf, rec, cls, i)
        live = {**layer.params, **layer.state}
        for name in sorted(set(live) - set(saved)):
            problems.append(f"{rec.name}.{name}: missing from the file")
        for name in sorted(set(saved) - set(live)):
            problems.append(f"{rec.name}.{name}: in the file but not in the rebuilt layer")
        for name in sorted(set(saved) & set(live)):
            array = saved[name]
            problem = compare(f"{rec.name}.{name}", array.shape, array.dtype, live[name])
            if problem:
                problems.append(problem)
            else:
                assignments.append((live[name], saved[name]))
        # A param saved as state (or the reverse) would train the wrong arrays.
        wrong = (set(rec.params) & set(layer.state)) | (set(rec.state) & set(layer.params))
        problems.extend(f"{rec.name}.{n}: saved as the wrong kind (param/state)" for n in wrong)
    if problems:
        raise ModelFormatError(
            f"the file does not match the rebuilt model ({len(problems)} problems): "
            + "; ".join(problems)
        )
    for live_array, saved_array in assignments:
        live_array[...] = saved_array  # copies the bits; keeps any views the layer holds
    if mf.optimizer is not None:
        model.optimizer = _optimizer(mf)
    _training(model, mf)
    model.metadata = dict(mf.metadata)
    return model


def _optimizer(mf: ModelFile) -> Any:
    from ..optimizers import OPTIMIZERS, from_state_dict

    rec = mf.optimizer
    assert rec is not None  # rebuild calls this only with one
    cls = OPTIMIZERS.get(rec.name)
    if cls is None:
        raise ModelFormatError(
            f"optimizer {rec.name!r} is unknown to this nnf; known: {', '.join(OPTIMIZERS)}"
        )
    odd = sorted(set(rec.slots) - set(cls.slot_names))
    if odd:
        raise ModelFormatError(f"optimizer {rec.name} has no state slots named {odd}")
    state = {
        "name": rec.name,
        "config": rec.config,
        "iterations": rec.iterations,
        "slots": {s: {p: native(a) for p, a in t.items()} for s, t in rec.slots.items()},
    }
    try:
        return from_state_dict(state)
    except Exception as exc:
        raise ModelFormatError(
            f"the saved optimizer cannot be restored: {type(exc).__name__}: {str(exc)[:200]}"
        ) from None


def _training(model: Any, mf: ModelFile) -> None:
    from ..losses import get_loss

    rec = mf.training
    if rec is None:
        return
    if rec.loss is not None:
        try:
            model.loss = get_loss(rec.loss)
        except Exception:
            raise ModelFormatError(
                f"training.loss {rec.loss!r:.60} is not a loss this nnf knows"
            ) from None
    state: dict[str, Any] = {}
    if rec.epoch is not None:
        state["epoch"] = rec.epoch
    if rec.seed is not None:
        state["seed"] = rec.seed
    if rec.history is not None:
        state["history"] = [dict(logs) for logs in rec.history]
    model.training_state = state
