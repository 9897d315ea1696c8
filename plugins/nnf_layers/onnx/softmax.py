"""Softmax -> Softmax."""

from __future__ import annotations

from typing import Any


def softmax(layer: Any, graph: Any, x: str) -> str:
    """Over the layer's class axis (``layer.axis``: the last, or -2 for tutorial columns)."""
    return graph.node("Softmax", [x], axis=int(layer.axis))
