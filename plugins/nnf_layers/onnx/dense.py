"""Dense -> Gemm."""

from __future__ import annotations

from typing import Any


def dense(layer: Any, graph: Any, x: str) -> str:
    """Rows (N, n) -> Gemm; tutorial columns (N, n, 1) are reshaped to rows and back."""
    weights = graph.constant(layer.params["weights"], "weights")  # (m, n): Gemm with transB
    bias = graph.constant(layer.params["bias"], "bias")
    m, n = layer.params["weights"].shape
    columns = len(layer.in_shape) == 2
    if columns:
        x = graph.node("Reshape", [x, graph.ints([0, n])])
    y = graph.node("Gemm", [x, weights, bias], transB=1)
    if columns:
        y = graph.node("Reshape", [y, graph.ints([0, m, 1])])
    return y
