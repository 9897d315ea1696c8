"""Reshape and Flatten -> Reshape."""

from __future__ import annotations

from typing import Any


def reshape(layer: Any, graph: Any, x: str) -> str:
    """To (N, *out_shape); the 0 keeps the batch size."""
    return graph.node("Reshape", [x, graph.ints([0, *layer.out_shape])])
