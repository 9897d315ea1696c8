"""The tutorial's ``train`` and ``predict``, with its meaning: per-sample SGD, one line per epoch.

``network`` is a plain list of layers (as in the tutorial) or a ``Sequential``. Tutorial code
runs unchanged but for its imports:

    from nnf import train, predict
    from nnf.layers import Dense, Tanh
    from nnf.losses import mse, mse_prime
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .layer import Layer

LossFn = Callable[[np.ndarray, np.ndarray], Any]


def _layers(network: Iterable[Layer]) -> list[Layer]:
    layers = list(getattr(network, "layers", network))
    for layer in layers:
        if not isinstance(layer, Layer):
            raise TypeError(f"network must hold nnf layers, got {type(layer).__name__}")
    return layers


def predict(network: Iterable[Layer], input: np.ndarray) -> np.ndarray:
    """Run one input through every layer, shaped as the tutorial shapes it (``(1, 28, 28)``)."""
    output = input
    for layer in _layers(network):
        output = layer.forward(output)
    return output


def train(
    network: Iterable[Layer],
    loss: LossFn,
    loss_prime: LossFn,
    x_train: Any,
    y_train: Any,
    epochs: int = 1000,
    learning_rate: float = 0.01,
    verbose: bool = True,
) -> list[float]:
    """Per-sample SGD exactly as the tutorial: forward, loss, backward with the learning rate.

    Prints ``e/epochs, error=...`` after each epoch when ``verbose``; returns the errors.
    """
    ensure_built = getattr(network, "_ensure_built", None)
    if ensure_built is not None:  # a Sequential: shapes from the data, weights kept, so it saves
        ensure_built(np.asarray(x_train))
    layers = _layers(network)
    if not layers:
        raise TypeError("network has no layers")
    # Nobody uses the first layer's dL/dx: it only updates its parameters.
    first, later = layers[0], layers[:0:-1]
    errors = []
    for e in range(epochs):
        error = 0.0
        for x, y in zip(x_train, y_train):
            output = x
            for layer in layers:
                output = layer.forward(output, training=True)
            error += loss(y, output)
            grad = loss_prime(y, output)
            for layer in later:
                grad = layer.backward(grad, learning_rate)
            first.backward_parameters(grad, learning_rate)
        error /= len(x_train)
        errors.append(float(error))
        if verbose:
            print(f"{e + 1}/{epochs}, error={error}")
    return errors
