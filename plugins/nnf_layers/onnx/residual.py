"""Residual -> the inner layers' own converters, then Add with the input (or its projection)."""

from __future__ import annotations

from typing import Any


def residual(layer: Any, graph: Any, x: str) -> str:
    """Each inner layer (a plugin's too) is converted by the converter registered for its key,
    its tensors named ``block/inner/...``."""
    from nnf.export.onnx import ExportError, find_converter

    outer = graph.scope

    def convert(inner: Any, source: str) -> str:
        fn = find_converter(inner)
        if fn is None:
            raise ExportError(
                f"no ONNX converter for {inner.label} ({type(inner).key}) inside {layer.label}"
            )
        graph.scope = f"{outer}/{inner.name}"
        try:
            return fn(inner, graph, source)
        finally:
            graph.scope = outer

    h = x
    for inner in layer.layers:
        h = convert(inner, h)
    skip = x
    projection = layer.sublayers()[len(layer.layers) :]
    for inner in projection:
        skip = convert(inner, skip)
    return graph.node("Add", [h, skip])
