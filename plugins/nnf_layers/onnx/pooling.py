"""MaxPool2D -> MaxPool."""

from __future__ import annotations

from typing import Any


def max_pool(layer: Any, graph: Any, x: str) -> str:
    """Windows of ``pool_size`` every ``layer.step``; no padding (rows no window reaches are
    dropped, as ONNX does without pads)."""
    p, s = int(layer.pool_size), int(layer.step)
    return graph.node("MaxPool", [x], kernel_shape=[p, p], strides=[s, s])
