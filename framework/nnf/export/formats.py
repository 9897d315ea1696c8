"""``export(model, path, format)``: one entry point for every export format."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from .errors import ExportError

if TYPE_CHECKING:
    from ..model import Sequential

#: format -> what it writes
FORMATS = {
    "onnx": "an ONNX model (opset 17, float32, symbolic batch axis); needs nnf-framework[onnx]",
    "npz": "every parameter and state array, keyed 'layer_name.param' (numpy.load reads it)",
    "json": "the architecture alone: model.get_config() as JSON",
}


def export_npz(model: Sequential, path: str | os.PathLike[str]) -> None:
    """Write every parameter and state array to a plain ``.npz`` keyed ``layer_name.param``.

    ``numpy.load(path, allow_pickle=False)`` reads it, and ``nnf.load_weights`` brings it back.
    """
    from ..io import export_npz as write

    write(model, path)


def export_json(model: Sequential, path: str | os.PathLike[str]) -> None:
    """Write the architecture (``model.get_config()``: input shape, dtype, layers) as JSON."""
    from ..io.durable import atomic_write

    text = json.dumps(model.get_config(), indent=2) + "\n"
    atomic_write(path, [text.encode("utf-8")])


def export(model: Sequential, path: str | os.PathLike[str], format: str = "onnx") -> None:
    """Write ``model`` to ``path`` as ``format``: ``"onnx"``, ``"npz"`` or ``"json"``."""
    if format == "onnx":
        from .onnx import export_onnx

        export_onnx(model, path)
    elif format == "npz":
        export_npz(model, path)
    elif format == "json":
        export_json(model, path)
    else:
        raise ExportError(f"unknown export format {format!r}: use one of {', '.join(FORMATS)}")
