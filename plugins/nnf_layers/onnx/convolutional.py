"""Convolutional -> Conv (cross-correlation, as nnf computes it)."""

from __future__ import annotations

from typing import Any


def convolutional(layer: Any, graph: Any, x: str) -> str:
    """Conv with the layer's own padding (``layer.pads``); a per-position bias (depth, H', W')
    becomes a bias-free Conv followed by Add."""
    k, s = int(layer.kernel_size), int(layer.stride)
    top, bottom, left, right = layer.pads
    inputs = [x, graph.constant(layer.params["kernels"], "kernels")]
    if layer.bias == "channel":
        inputs.append(graph.constant(layer.params["biases"], "biases"))
    y = graph.node(
        "Conv", inputs, kernel_shape=[k, k], strides=[s, s], pads=[top, left, bottom, right]
    )
    if layer.bias == "position":
        y = graph.node("Add", [y, graph.constant(layer.params["biases"], "biases")])
    return y
