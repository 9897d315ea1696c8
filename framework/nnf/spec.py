"""Model specs: a TOML (or JSON) file naming the input shape and the layers, built into a model.

    name = "mlp"
    input_shape = [784]

    [[layers]]
    type = "Dense"          # a registry key or short name, resolved through nnf.registry
    output_size = 100       # every other key is an option of the layer

    [[layers]]
    type = "Softmax"

    [training]              # optional defaults for `nnf train`
    loss = "categorical_crossentropy"
    epochs = 5

Shapes are inferred layer by layer, so only the input shape is written. Every error names the
file and the layer (by index, name and type) and says how to fix it.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .errors import ConfigError, NNFError, ShapeError, UnknownLayerError

if TYPE_CHECKING:
    from .model import Sequential

TOP_KEYS = ("name", "input_shape", "dtype", "layers", "training")
LAYER_KEYS = ("type", "name")  # every other key of a layer table is an option

#: ``[training]`` keys and the Python types they accept.
TRAINING_KEYS: dict[str, tuple[type, ...]] = {
    "data": (str,),
    "epochs": (int,),
    "batch_size": (int,),
    "loss": (str,),
    "optimizer": (str,),
    "learning_rate": (int, float),
    "optimizer_options": (dict,),
    "seed": (int,),
    "validation_split": (int, float),
    "shuffle": (bool,),
    # Callbacks and metrics (nnf.callbacks.spec validates their options).
    "metrics": (list,),
    "early_stopping": (dict,),
    "lr_schedule": (dict,),
    "reduce_lr_on_plateau": (dict,),
    "checkpoint": (dict,),
}


@attrs.frozen
class LayerSpec:
    """One ``[[layers]]`` entry: its position, registry name, options and optional model name."""

    index: int
    type: str
    options: dict[str, Any] = attrs.field(factory=dict)
    name: str | None = None

    @property
    def label(self) -> str:
        """How errors name the layer: ``layer 2 'fc1' (Dense)`` or ``layer 2 (Dense)``."""
        named = f" {self.name!r}" if self.name else ""
        return f"layer {self.index}{named} ({self.type})"


@attrs.frozen
class ModelSpec:
    """A parsed, validated spec; ``build()`` turns it into a ``Sequential``."""

    input_shape: tuple[int, ...]
    layers: tuple[LayerSpec, ...]
    name: str = "sequential"
    dtype: str = "float32"
    training: dict[str, Any] = attrs.field(factory=dict)
    source: str = "<spec>"

    def build(self, seed: int | None = None) -> Sequential:
        """The model with parameters initialised from ``seed`` (same seed, same weights)."""
        return build_model(self, seed=seed)

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data (the schema of the file it came from)."""
        layers = []
        for layer in self.layers:
            entry: dict[str, Any] = {"type": layer.type}
            if layer.name:
                entry["name"] = layer.name
            entry.update(layer.options)
            layers.append(entry)
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "dtype": self.dtype,
            "layers": layers,
            "training": dict(self.training),
        }


# ---------------------------------------------------------------------------- reading
def read_spec_data(path: str | Path) -> dict[str, Any]:
    """The raw mapping of a ``.toml`` or ``.json`` spec file (not yet validated)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"spec file {str(path)!r} does not exist")
    if path.is_dir():
        raise ConfigError(f"{path} is a folder, not a spec file (.toml or .json)")
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ConfigError(
            f"{path}: a spec must be a .toml or .json file, not {suffix or 'no suffix'}"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file; a spec is TOML or JSON text") from None
    return parse_text(text, "json" if suffix == ".json" else "toml", str(path))


def parse_text(text: str, fmt: str, source: str = "<spec>") -> dict[str, Any]:
    """Parse spec text in ``fmt`` ("toml" or "json") into a mapping; syntax errors name the line."""
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{source}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from None
    elif fmt == "toml":
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    else:
        raise ConfigError(f"unknown spec format {fmt!r}: use 'toml' or 'json'")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a spec must be a table/object at the top level")
    return data


def load_spec(path: str | Path, overrides: Mapping[str, Any] | None = None) -> ModelSpec:
    """Read and validate a spec file; ``overrides`` maps dotted keys to values (``override``)."""
    data = read_spec_data(path)
    if is_run_record(data):
        data = spec_data_from_run(data, str(path))
    for key, value in (overrides or {}).items():
        override(data, key, value, source=str(path))
    return parse_spec(data, source=str(path), default_name=Path(path).stem)


def is_run_record(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` is the ``config.json`` that ``nnf train`` writes into a run folder."""
    return "nnf_version" in data and isinstance(data.get("model"), Mapping)


def spec_data_from_run(record: Mapping[str, Any], source: str = "config.json") -> dict[str, Any]:
    """Spec data that trains the run a ``config.json`` describes again: its architecture (by
    registry key and config), its settings and seed, all its epochs. A run that started from
    a spec is reproduced bit for bit; one that fine-tuned a model file starts from fresh
    weights drawn with the same seed."""
    model = record["model"]
    layers = model.get("layers")
    if not isinstance(layers, list):
        raise ConfigError(f"{source}: the run record has no model layers")
    training = record.get("training") or {}
    if not isinstance(training, Mapping):
        raise ConfigError(f"{source}: the run record's training must be an object")
    table = {k: v for k, v in training.items() if k in TRAINING_KEYS and v is not None}
    if isinstance(training.get("total_epochs"), int):
        table["epochs"] = training["total_epochs"]
    out: dict[str, Any] = {
        "name": model.get("name") or "sequential",
        "input_shape": model.get("input_shape"),
        "dtype": model.get("dtype") or "float32",
        "layers": [],
        "training": table,
    }
    for i, layer in enumerate(layers):
        if not isinstance(layer, Mapping) or not isinstance(layer.get("config"), Mapping):
            raise ConfigError(f"{source}: layer {i} of the run record has no key and config")
        entry = {"type": layer.get("key"), **layer["config"]}
        if layer.get("name"):
            entry["name"] = layer["name"]
        out["layers"].append(entry)
    return out


def loads_spec(text: str, fmt: str = "toml", source: str = "<string>") -> ModelSpec:
    """Validate spec text (TOML by default, or JSON)."""
    return parse_spec(parse_text(text, fmt, source), source=source)


# ------------------------------------------------------------------------ validation
def _close(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


#: Option names from other libraries, mapped to the nnf option a user most likely meant.
OPTION_ALIASES = {
    "units": "output_size",
    "out_features": "output_size",
    "in_features": "input_size",
    "filters": "depth",
    "out_channels": "depth",
    "kernel": "kernel_size",
    "strides": "stride",
    "pool": "pool_size",
    "kernel_initializer": "init",
}


def _suggest_option(option: str, valid: Sequence[str]) -> str:
    alias = OPTION_ALIASES.get(option)
    if alias in valid:
        return f" (did you mean {alias!r}?)"
    return _close(option, valid)


def _unknown_keys(found: Mapping[str, Any], valid: Sequence[str], where: str) -> None:
    for key in found:
        if key not in valid:
            raise ConfigError(
                f"{where}: unknown key {key!r}{_close(key, valid)}; valid keys: {', '.join(valid)}"
            )


def _shape(value: Any, source: str) -> tuple[int, ...]:
    items = [value] if isinstance(value, int) else value
    ok = (
        isinstance(items, list | tuple)
        and items
        and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in items)
    )
    if not ok:
        raise ShapeError(
            f"{source}: input_shape must be a list of positive integers such as [1, 28, 28], "
            f"got {value!r}"
        )
    return tuple(items)


def check_training(table: Any, source: str = "<spec>") -> dict[str, Any]:
    """Validate a ``[training]`` table: known keys, right types, sensible values."""
    where = f"{source}: [training]"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table, got {type(table).__name__}")
    _unknown_keys(table, list(TRAINING_KEYS), where)
    out: dict[str, Any] = {}
    for key, value in table.items():
        types = TRAINING_KEYS[key]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            want = " or ".join(t.__name__ for t in types)
            raise ConfigError(f"{where}: {key} must be a {want}, got {value!r}")
        out[key] = value
    if out.get("epochs", 1) < 0:
        raise ConfigError(f"{where}: epochs must be >= 0, got {out['epochs']}")
    if out.get("batch_size", 1) < 1:
        raise ConfigError(f"{where}: batch_size must be >= 1, got {out['batch_size']}")
    if not out.get("learning_rate", 1) > 0:
        raise ConfigError(f"{where}: learning_rate must be > 0, got {out['learning_rate']}")
    if out.get("seed", 0) < 0:
        raise ConfigError(f"{where}: seed must be a non-negative integer, got {out['seed']}")
    if not 0 <= out.get("validation_split", 0) < 1:
        raise ConfigError(
            f"{where}: validation_split must be in [0, 1), got {out['validation_split']}"
        )
    if "loss" in out:
        from .losses import get_loss

        try:
            get_loss(out["loss"])
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    if "learning_rate" in out.get("optimizer_options", {}):
        raise ConfigError(
            f"{where}: set the learning rate with learning_rate = ... (or --lr), "
            "not inside optimizer_options"
        )
    from .callbacks.spec import check_callback_tables

    check_callback_tables(out, source)
    if "optimizer" in out or "optimizer_options" in out:
        from .optimizers import get_optimizer

        try:
            get_optimizer(out.get("optimizer"), **out.get("optimizer_options", {}))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return out


def parse_spec(
    data: Mapping[str, Any], source: str = "<spec>", default_name: str = "sequential"
) -> ModelSpec:
    """Validate the raw mapping of a spec (keys, shapes, layer tables) into a ``ModelSpec``."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: a spec must be a table/object, got {type(data).__name__}")
    _unknown_keys(data, TOP_KEYS, source)
    if "input_shape" not in data:
        raise ConfigError(f"{source}: input_shape is missing; add e.g. input_shape = [1, 28, 28]")
    input_shape = _shape(data["input_shape"], source)
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{source}: name must be a non-empty string, got {name!r}")
    dtype = data.get("dtype", "float32")
    if dtype not in ("float32", "float64"):
        raise ConfigError(f"{source}: dtype must be 'float32' or 'float64', got {dtype!r}")
    raw_layers = data.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise ConfigError(
            f"{source}: no layers; add at least one [[layers]] table with a type, "
            'e.g. [[layers]] type = "Dense" output_size = 10'
        )
    layers = tuple(_layer_spec(i, raw, source) for i, raw in enumerate(raw_layers))
    names = [layer.name for layer in layers if layer.name]
    for n in names:
        if names.count(n) > 1:
            raise ConfigError(f"{source}: two layers are named {n!r}; layer names must be unique")
    training = check_training(data.get("training", {}), source)
    return ModelSpec(
        input_shape=input_shape,
        layers=layers,
        name=name,
        dtype=dtype,
        training=training,
        source=source,
    )


def _layer_spec(index: int, raw: Any, source: str) -> LayerSpec:
    where = f"{source}: layer {index}"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a table with a 'type' key, got {raw!r}")
    kind = raw.get("type")
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f'{where} has no type; add e.g. type = "Dense"')
    name = raw.get("name")
    if name is not None:
        from .io.spec import valid_name  # the file format's rule: a spec that builds also saves

        if not valid_name(name):
            raise ConfigError(
                f"{where} ({kind}): name {name!r} cannot be saved; use 1-128 characters "
                "without '.' or control characters"
            )
    options = {k: v for k, v in raw.items() if k not in LAYER_KEYS}
    return LayerSpec(index=index, type=kind, options=options, name=name)


# --------------------------------------------------------------------------- building
def make_layer(layer: LayerSpec, source: str = "<spec>") -> Any:
    """Create one layer through the registry; errors name the layer and the valid options."""
    from .registry import REGISTRY

    where = f"{source}: {layer.label}"
    try:
        cls = REGISTRY.get(layer.type)
    except UnknownLayerError as exc:
        raise UnknownLayerError(f"{where}: {exc}") from None
    except NNFError as exc:  # a broken, blocked or conflicting plugin
        raise type(exc)(f"{where}: {exc}") from None
    valid = cls.config_fields()
    for option in layer.options:
        if option not in valid:
            raise ConfigError(
                f"{where}: unknown option {option!r}{_suggest_option(option, valid)}; "
                f"valid options: {', '.join(valid) or '(none)'}"
            )
    try:
        return cls.from_config(layer.options)
    except (ConfigError, ShapeError) as exc:
        raise type(exc)(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def build_model(spec: ModelSpec | str | Path, seed: int | None = None) -> Sequential:
    """Build the ``Sequential`` a spec (or spec file) describes, with parameters from ``seed``.

    A shape that cannot flow raises ``ShapeError`` naming the breaking layer and the shapes
    that reached it.
    """
    from .model import Sequential

    if not isinstance(spec, ModelSpec):
        spec = load_spec(spec)
    layers = [make_layer(layer, spec.source) for layer in spec.layers]
    for layer, layer_spec in zip(layers, spec.layers, strict=True):
        if layer_spec.name:
            layer.name = layer_spec.name
    model = Sequential(layers, input_shape=spec.input_shape, dtype=spec.dtype, name=spec.name)
    try:
        model.build(seed=seed)
    except (ShapeError, ConfigError, ValueError, TypeError) as exc:
        raise _shape_failure(spec, model, exc) from None
    return model


def _shape_failure(spec: ModelSpec, model: Sequential, exc: Exception) -> Exception:
    """Re-run shape inference with a throwaway RNG to find which layer breaks and why."""
    import numpy as np

    shape: tuple[int, ...] = spec.input_shape
    flow = [f"input {shape}"]
    rng = np.random.default_rng(0)
    for layer, layer_spec in zip(model.layers, spec.layers, strict=True):
        try:
            shape = tuple(layer.build(shape, rng=rng, dtype=spec.dtype))
        except Exception as inner:
            # The message names the layer already; drop a leading "label: " so it reads once.
            cause = str(inner).removeprefix(f"{layer.label}: ")
            kind = ShapeError if not isinstance(inner, ConfigError) else ConfigError
            return kind(
                f"{spec.source}: {layer_spec.label} cannot take input shaped {shape}: {cause} "
                f"(shapes so far: {' -> '.join(flow)})"
            )
        flow.append(str(shape))
    return (
        type(exc)(f"{spec.source}: {exc}")
        if isinstance(exc, NNFError)
        else ConfigError(f"{spec.source}: {exc}")
    )


# -------------------------------------------------------------------------- overrides
def parse_assignment(text: str) -> tuple[str, Any]:
    """Split ``key=value`` (from ``--set``); the value is read as TOML, else kept as a string.

    ``epochs=3`` -> ("epochs", 3); ``optimizer=sgd`` -> ("optimizer", "sgd");
    ``optimizer_options={momentum=0.9}`` -> a dict.
    """
    import tomllib

    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set takes key=value (e.g. --set epochs=3), got {text!r}")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def override(data: dict[str, Any], key: str, value: Any, source: str = "<spec>") -> None:
    """Set a dotted key in raw spec data in place.

    ``epochs`` or ``training.epochs`` set a training default; ``layers.2.output_size`` sets an
    option of layer 2; ``input_shape``, ``dtype`` and ``name`` set the model's own keys.
    """
    parts = key.split(".")
    if len(parts) == 1 and key in ("input_shape", "dtype", "name"):
        data[key] = value
        return
    if parts[0] == "training":
        parts = parts[1:]
    if len(parts) == 1 and parts[0] in TRAINING_KEYS:
        training = data.setdefault("training", {})
        if not isinstance(training, dict):
            raise ConfigError(f"{source}: [training] must be a table")
        training[parts[0]] = value
        return
    if len(parts) == 3 and parts[0] == "layers":
        layers = data.get("layers")
        try:
            index = int(parts[1])
            layer = layers[index] if index >= 0 else None  # type: ignore[index]
        except (ValueError, IndexError, TypeError):
            layer = None
        if not isinstance(layer, dict):
            count = len(layers) if isinstance(layers, list) else 0
            raise ConfigError(
                f"--set {key}: no layer {parts[1]} in {source} (it has layers 0 to {count - 1})"
            )
        layer[parts[2]] = value
        return
    valid = [*TRAINING_KEYS, "input_shape", "dtype", "name", "layers.N.option"]
    raise ConfigError(
        f"--set {key}: unknown key{_close(key, valid)}; use one of {', '.join(valid)}"
    )
