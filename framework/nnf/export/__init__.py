"""Models out of nnf: ONNX (optional extra ``nnf-framework[onnx]``), a plain ``.npz`` of the arrays,
and the architecture as JSON.

    nnf.export.export(model, "model.onnx", format="onnx")

ONNX conversion is per layer: nnf's own layers convert out of the box, a plugin provides
converters for its layers through the ``nnf.onnx`` entry-point group (see docs/plugins.md).
"""

from __future__ import annotations

from .errors import ExportError
from .formats import FORMATS, export, export_json, export_npz
from .onnx import OnnxGraph, export_onnx, find_converter, register_onnx_converter, to_onnx

__all__ = [
    "FORMATS",
    "ExportError",
    "OnnxGraph",
    "export",
    "export_json",
    "export_npz",
    "export_onnx",
    "find_converter",
    "register_onnx_converter",
    "to_onnx",
]
