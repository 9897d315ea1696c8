"""Layer classes by name, resolved through the registry.

``from nnf.layers import Dense`` finds the newest ``*.Dense.vN`` among installed plugins,
built-in or third-party alike; ``nnf.layers.get("acme.Gated.v1")`` takes a full key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .layer import Layer
from .registry import REGISTRY, get_layer, list_layers, register_layer

if TYPE_CHECKING:
    # For type checkers and editors only: the built-in classes under their short names, so
    # that `Dense(outptu_size=3)` is flagged. At run time every name goes through the
    # registry below (the newest installed version of the name wins).
    from nnf_layers.activations import LeakyReLU, ReLU, Sigmoid, Tanh
    from nnf_layers.convolutional import Convolutional
    from nnf_layers.dense import Dense
    from nnf_layers.dropout import Dropout
    from nnf_layers.pooling import MaxPool2D
    from nnf_layers.reshape import Flatten, Reshape
    from nnf_layers.softmax import Softmax

get = get_layer

__all__ = ["Layer", "get", "get_layer", "list_layers", "register_layer"]


def __getattr__(name: str) -> type[Layer]:
    if name.startswith("__"):
        raise AttributeError(name)
    from .errors import UnknownLayerError

    try:
        return REGISTRY.get(name)
    except UnknownLayerError as exc:
        # `from nnf.layers import X` turns AttributeError into a clear ImportError.
        raise AttributeError(str(exc)) from None


def __dir__() -> list[str]:
    from .layer import parse_key

    return sorted(set(__all__) | {parse_key(k)[1] for k in REGISTRY.keys()})
