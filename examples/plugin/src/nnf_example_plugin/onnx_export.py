"""ONNX converters, found by nnf through the ``nnf.onnx`` entry points of pyproject.toml.

A converter gets the layer, the graph being built and the name of its input tensor
(N, *layer.in_shape); it adds nodes and returns the name of its output. No onnx import needed.
"""

from __future__ import annotations

from typing import Any


def batch_norm(layer: Any, graph: Any, x: str) -> str:
    """Inference-mode BatchNormalization with the running statistics (feature axis 1)."""
    inputs = [x] + [
        graph.constant(table[name], name)
        for table, name in (
            (layer.params, "gamma"),
            (layer.params, "beta"),
            (layer.state, "running_mean"),
            (layer.state, "running_var"),
        )
    ]
    return graph.node("BatchNormalization", inputs, epsilon=float(layer.epsilon))


def swish(layer: Any, graph: Any, x: str) -> str:
    z = x if layer.beta == 1 else graph.node("Mul", [x, graph.constant(layer.beta, "beta")])
    return graph.node("Mul", [x, graph.node("Sigmoid", [z])])
