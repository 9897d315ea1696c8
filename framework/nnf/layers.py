"""Layer classes by name, resolved through the registry.

``from nnf.layers import Dense`` finds the newest ``*.Dense.vN`` among installed plugins,
built-in or third-party alike; ``nnf.layers.get("acme.Gated.v1")`` takes a full key.
"""

from __future__ import annotations

from .layer import Layer
from .registry import REGISTRY, get_layer, list_layers, register_layer

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
