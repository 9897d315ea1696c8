"""ONNX converters for nnf's built-in layers: ``(layer, graph, x) -> output name``.

Tensors carry the batch axis first: a layer's input is ``(N, *layer.in_shape)``.
"""

from __future__ import annotations

from typing import Any

from .onnx import Converter, OnnxGraph


def _same_pads(size: int, k: int, stride: int, padding: str) -> tuple[int, int]:
    """Zeros before and after one spatial axis, as nnf pads it (extra zero after: TF/Keras)."""
    if padding == "valid":
        return 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def dense(layer: Any, graph: OnnxGraph, x: str) -> str:
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


def convolutional(layer: Any, graph: OnnxGraph, x: str) -> str:
    """Conv; a per-position bias (depth, H', W') becomes a bias-free Conv followed by Add."""
    _, h, w = layer.in_shape
    k, s = int(layer.kernel_size), int(layer.stride)
    top, bottom = _same_pads(h, k, s, layer.padding)
    left, right = _same_pads(w, k, s, layer.padding)
    inputs = [x, graph.constant(layer.params["kernels"], "kernels")]
    if layer.bias == "channel":
        inputs.append(graph.constant(layer.params["biases"], "biases"))
    y = graph.node(
        "Conv", inputs, kernel_shape=[k, k], strides=[s, s], pads=[top, left, bottom, right]
    )
    if layer.bias == "position":
        y = graph.node("Add", [y, graph.constant(layer.params["biases"], "biases")])
    return y


def max_pool(layer: Any, graph: OnnxGraph, x: str) -> str:
    p = int(layer.pool_size)
    s = int(layer.stride or p)
    return graph.node("MaxPool", [x], kernel_shape=[p, p], strides=[s, s])


def reshape(layer: Any, graph: OnnxGraph, x: str) -> str:
    """Reshape and Flatten alike: to (N, *out_shape); the 0 keeps the batch size."""
    return graph.node("Reshape", [x, graph.ints([0, *layer.out_shape])])


def softmax(layer: Any, graph: OnnxGraph, x: str) -> str:
    """Over the last axis, or over the class axis of tutorial columns (K, 1)."""
    columns = len(layer.in_shape) >= 2 and layer.in_shape[-1] == 1
    return graph.node("Softmax", [x], axis=-2 if columns else -1)


def leaky_relu(layer: Any, graph: OnnxGraph, x: str) -> str:
    return graph.node("LeakyRelu", [x], alpha=float(layer.alpha))


def _unary(op_type: str) -> Converter:
    def convert(layer: Any, graph: OnnxGraph, x: str) -> str:
        return graph.node(op_type, [x])

    convert.__name__ = op_type.lower()
    return convert


BUILTIN: dict[str, Converter] = {
    "nnf.Dense.v1": dense,
    "nnf.Convolutional.v1": convolutional,
    "nnf.MaxPool2D.v1": max_pool,
    "nnf.Reshape.v1": reshape,
    "nnf.Flatten.v1": reshape,
    "nnf.Tanh.v1": _unary("Tanh"),
    "nnf.Sigmoid.v1": _unary("Sigmoid"),
    "nnf.ReLU.v1": _unary("Relu"),
    "nnf.LeakyReLU.v1": leaky_relu,
    "nnf.Softmax.v1": softmax,
    "nnf.Dropout.v1": _unary("Identity"),  # inference: dropout is the identity
}
