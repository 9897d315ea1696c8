"""nnf: a small neural-network framework on NumPy whose layers are plugins.

Names are imported lazily so that ``nnf --help`` and ``nnf layers`` start fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> (module, attribute); a module itself when attribute is None
_EXPORTS: dict[str, tuple[str, str | None]] = {
    "Layer": ("nnf.layer", "Layer"),
    "register_layer": ("nnf.registry", "register_layer"),
    "get_layer": ("nnf.registry", "get_layer"),
    "list_layers": ("nnf.registry", "list_layers"),
    "Sequential": ("nnf.model", "Sequential"),
    "History": ("nnf.training", "History"),
    "train": ("nnf.tutorial", "train"),
    "predict": ("nnf.tutorial", "predict"),
    "save": ("nnf.io", "save"),
    "load": ("nnf.io", "load"),
    "loads": ("nnf.io", "loads"),
    "inspect": ("nnf.io", "inspect"),
    "load_weights": ("nnf.io", "load_weights"),
    "errors": ("nnf.errors", None),
    "layers": ("nnf.layers", None),
    "losses": ("nnf.losses", None),
    "optimizers": ("nnf.optimizers", None),
    "datasets": ("nnf.datasets", None),
    "callbacks": ("nnf.callbacks", None),
    "metrics": ("nnf.metrics", None),
    "spec": ("nnf.spec", None),
    "registry": ("nnf.registry", None),
    "testing": ("nnf.testing", None),
    "export": ("nnf.export", None),
    "io": ("nnf.io", None),
    "report": ("nnf.visual", "report"),
    "visual": ("nnf.visual", None),
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from . import (
        callbacks,
        datasets,
        errors,
        export,
        io,
        layers,
        losses,
        metrics,
        optimizers,
        registry,
        spec,
        testing,
        visual,
    )
    from .io import inspect, load, load_weights, loads, save
    from .layer import Layer
    from .model import Sequential
    from .registry import get_layer, list_layers, register_layer
    from .training import History
    from .tutorial import predict, train
    from .visual.report import report


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'nnf' has no attribute {name!r}") from None
    module = import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
