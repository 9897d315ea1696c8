"""ONNX export: each layer is converted by a function found through the layer's registry key.

A converter takes ``(layer, graph, x)``, where ``x`` names the layer's input tensor
``(N, *layer.in_shape)``, adds nodes with ``graph.node(...)`` and returns the name of the
output tensor ``(N, *layer.out_shape)``. Converters are found, in this order, among

1. script registrations: ``register_onnx_converter("acme.Gated.v1", fn)``;
2. the ``nnf.onnx`` entry-point group: name = layer key, value = ``module:function``. This is
   how every distribution ships converters for its layers, nnf's own built-ins included
   (``nnf_layers.onnx``); only nnf may register the reserved ``nnf.*`` keys.

The ``onnx`` package is imported only when exporting (``pip install 'nnf-framework[onnx]'``).
Models are written in float32 with opset 17 and a symbolic batch axis ``N``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ExportError

if TYPE_CHECKING:
    from ..layer import Layer
    from ..model import Sequential

GROUP = "nnf.onnx"
OPSET = 17
IR_VERSION = 8  # the IR of opset 17: readable by every runtime that supports the opset
INSTALL_HINT = "pip install 'nnf-framework[onnx]'"

Converter = Callable[["Layer", "OnnxGraph", str], str]

_SCRIPT_CONVERTERS: dict[str, Converter] = {}


def _require_onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ExportError(f"ONNX export needs the onnx package: {INSTALL_HINT}") from None
    return onnx


class OnnxGraph:
    """The graph converters write into. Names are made unique and prefixed with the layer name.

    ``constant(array)`` adds a float32 initializer, ``ints(values)`` an int64 one (shapes for
    Reshape), ``node(op, inputs, **attributes)`` a node with one output; each returns the name
    of the new tensor.
    """

    opset = OPSET

    def __init__(self) -> None:
        self.onnx = _require_onnx()
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.scope = ""
        self._used: set[str] = set()

    def unique(self, base: str) -> str:
        """A tensor name not used yet: ``scope/base``, then ``scope/base_1``, ..."""
        stem = f"{self.scope}/{base}" if self.scope else base
        name, i = stem, 0
        while name in self._used:
            i += 1
            name = f"{stem}_{i}"
        self._used.add(name)
        return name

    def constant(self, array: Any, name: str = "const") -> str:
        """A float32 initializer holding ``array`` (float64 parameters are rounded to float32)."""
        value = np.ascontiguousarray(array, dtype=np.float32)
        unique = self.unique(name)
        self.initializers.append(self.onnx.numpy_helper.from_array(value, unique))
        return unique

    def ints(self, values: Sequence[int], name: str = "shape") -> str:
        """An int64 initializer, e.g. the target shape of a Reshape (0 copies the batch size)."""
        value = np.asarray(list(values), dtype=np.int64)
        unique = self.unique(name)
        self.initializers.append(self.onnx.numpy_helper.from_array(value, unique))
        return unique

    def node(
        self, op_type: str, inputs: Sequence[str], output: str | None = None, **attributes: Any
    ) -> str:
        """Add an ``op_type`` node reading ``inputs``; returns its output's name."""
        out = output or self.unique(op_type)
        if output:
            self._used.add(output)
        self.nodes.append(
            self.onnx.helper.make_node(
                op_type, list(inputs), [out], name=self.unique(f"{op_type}_node"), **attributes
            )
        )
        return out


# ------------------------------------------------------------------- converter lookup
def register_onnx_converter(
    key: str, converter: Converter | None = None, *, override: bool = False
) -> Any:
    """Use ``converter`` for layers of ``key`` (a script's alternative to an entry point).

    Usable as a call or as ``@register_onnx_converter("acme.Gated.v1")``.
    """

    def decorate(fn: Converter) -> Converter:
        if key in _SCRIPT_CONVERTERS and not override and _SCRIPT_CONVERTERS[key] is not fn:
            raise ExportError(
                f"an ONNX converter for {key!r} is already registered; pass override=True"
            )
        _SCRIPT_CONVERTERS[key] = fn
        return fn

    return decorate(converter) if converter is not None else decorate


def unregister_onnx_converter(key: str) -> None:
    _SCRIPT_CONVERTERS.pop(key, None)


def _layer_dist(key: str) -> str | None:
    from ..registry import REGISTRY

    entry = REGISTRY.entry(key)
    return entry.dist if entry is not None else None


def _is_nnf(ep: Any) -> bool:
    """Whether nnf itself ships ``ep`` (others may not convert the reserved ``nnf.*`` keys)."""
    from ..registry import BUILTIN_DIST, canonical_dist

    return ep.dist is not None and canonical_dist(ep.dist.name) == BUILTIN_DIST


def _entry_point_converter(key: str) -> Converter | None:
    from ..registry import RESERVED_NAMESPACE

    reserved = key.split(".", 1)[0] == RESERVED_NAMESPACE
    found = [
        ep
        for ep in metadata.entry_points(group=GROUP)
        if ep.name == key and (not reserved or _is_nnf(ep))
    ]
    if not found:
        return None
    # The distribution that ships the layer wins over others converting the same key.
    owner = _layer_dist(key)
    found.sort(key=lambda ep: ep.dist is None or ep.dist.name != owner)
    ep = found[0]
    try:
        fn = ep.load()
    except Exception as exc:
        dist = ep.dist.name if ep.dist is not None else "?"
        raise ExportError(
            f"the ONNX converter for {key!r} from {dist} ({ep.value}) cannot be imported: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if not callable(fn):
        raise ExportError(f"the ONNX converter for {key!r} ({ep.value}) is not callable")
    return fn


def find_converter(layer: Layer) -> Converter | None:
    """The ONNX converter for ``layer``'s key, or None if no plugin provides one."""
    key = type(layer).key
    if key in _SCRIPT_CONVERTERS:
        return _SCRIPT_CONVERTERS[key]
    return _entry_point_converter(key)


def _converters(model: Sequential) -> list[Converter]:
    """Every layer's converter; one ``ExportError`` naming every layer that has none."""
    found = [find_converter(layer) for layer in model.layers]
    missing = [
        f"layer {i} {layer.label} ({type(layer).key}, from "
        f"{_layer_dist(type(layer).key) or 'a script'})"
        for i, (layer, fn) in enumerate(zip(model.layers, found, strict=True))
        if fn is None
    ]
    if missing:
        raise ExportError(
            f"no ONNX converter for {'; '.join(missing)}: a plugin provides one as an entry "
            f"point in group {GROUP!r} named after the layer key (see docs/plugins.md); the npz "
            "and json formats export any model"
        )
    return [fn for fn in found if fn is not None]


# --------------------------------------------------------------------------- export
def _value_info(onnx: Any, name: str, shape: Sequence[int]) -> Any:
    return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, ["N", *shape])


def to_onnx(model: Sequential) -> Any:
    """The ONNX ``ModelProto`` of a built ``model``: input ``input`` (N, *input_shape) float32,
    output ``output`` (N, *output_shape)."""
    from .. import __version__

    if not model.built:
        raise ExportError("the model has no parameters yet: build or train it before exporting")
    converters = _converters(model)
    graph = OnnxGraph()
    onnx = graph.onnx
    x = "input"
    graph._used.update(("input", "output"))
    for i, (layer, convert) in enumerate(zip(model.layers, converters, strict=True)):
        graph.scope = layer.name or f"layer_{i}"
        try:
            x = convert(layer, graph, x)
        except ExportError:
            raise
        except Exception as exc:
            raise ExportError(
                f"converting layer {i} {layer.label} ({type(layer).key}) to ONNX failed: "
                f"{type(exc).__name__}: {exc}"
            ) from None
    graph.scope = ""
    graph.node("Identity", [x], output="output")
    proto = onnx.helper.make_graph(
        graph.nodes,
        model.name,
        [_value_info(onnx, "input", model.input_shape or ())],
        [_value_info(onnx, "output", model.output_shape or ())],
        initializer=graph.initializers,
    )
    result = onnx.helper.make_model(
        proto,
        producer_name="nnf",
        producer_version=__version__,
        opset_imports=[onnx.helper.make_opsetid("", OPSET)],
    )
    result.ir_version = IR_VERSION
    onnx.helper.set_model_props(
        result, {"nnf.layers": ",".join(type(layer).key for layer in model.layers)}
    )
    try:
        onnx.checker.check_model(result, full_check=True)
    except Exception as exc:  # onnx raises ValidationError or InferenceError
        raise ExportError(f"the exported ONNX graph is invalid: {str(exc).strip()[:300]}") from None
    return result


def export_onnx(model: Sequential, path: str | os.PathLike[str]) -> None:
    """Write ``model`` as an ONNX file (opset 17, float32, batch axis ``N``), atomically."""
    from ..io.durable import atomic_write

    atomic_write(path, [to_onnx(model).SerializeToString()])
