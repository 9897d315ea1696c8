"""BatchNorm -> ONNX BatchNormalization (inference: the running statistics)."""

from __future__ import annotations

from typing import Any


def batch_norm(layer: Any, graph: Any, x: str) -> str:
    """y = gamma (x - running_mean) / sqrt(running_var + eps) + beta over axis 1, for (N, F)
    and (N, C, H, W) alike."""
    inputs = [
        x,
        graph.constant(layer.params["gamma"], "gamma"),
        graph.constant(layer.params["beta"], "beta"),
        graph.constant(layer.state["running_mean"], "running_mean"),
        graph.constant(layer.state["running_var"], "running_var"),
    ]
    return graph.node("BatchNormalization", inputs, epsilon=float(layer.epsilon))
