"""The error export raises: a model that cannot be written in the asked format."""

from __future__ import annotations

from ..errors import ExportError

__all__ = ["ExportError"]
