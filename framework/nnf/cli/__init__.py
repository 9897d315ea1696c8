"""The ``nnf`` command line: a thin layer over the Python API.

``main`` is the console script's entry point; ``cli`` the click group (for ``CliRunner``).
"""

from __future__ import annotations

from .main import cli, main

__all__ = ["cli", "main"]
