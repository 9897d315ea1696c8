"""Dropout -> Identity: at inference dropout passes its input through."""

from __future__ import annotations

from typing import Any


def dropout(layer: Any, graph: Any, x: str) -> str:
    return graph.node("Identity", [x])
