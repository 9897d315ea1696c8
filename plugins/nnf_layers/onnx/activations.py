"""Tanh, Sigmoid, ReLU, LeakyReLU -> their ONNX operators of the same name."""

from __future__ import annotations

from typing import Any


def tanh(layer: Any, graph: Any, x: str) -> str:
    return graph.node("Tanh", [x])


def sigmoid(layer: Any, graph: Any, x: str) -> str:
    return graph.node("Sigmoid", [x])


def relu(layer: Any, graph: Any, x: str) -> str:
    return graph.node("Relu", [x])


def leaky_relu(layer: Any, graph: Any, x: str) -> str:
    return graph.node("LeakyRelu", [x], alpha=float(layer.alpha))
