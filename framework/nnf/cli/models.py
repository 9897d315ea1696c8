"""Getting a model from the command line: a spec file is built, a ``.nnf`` file is loaded."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .output import require_file

if TYPE_CHECKING:
    from ..model import Sequential
    from ..spec import ModelSpec

SPEC_SUFFIXES = (".toml", ".json")


def is_spec(path: str | Path) -> bool:
    """Whether ``path`` names a spec (``.toml``/``.json``) rather than a model file."""
    return Path(path).suffix.lower() in SPEC_SUFFIXES


def load_spec(path: str | Path, overrides: Mapping[str, Any] | None = None) -> ModelSpec:
    from ..spec import load_spec

    require_file(path, "spec file")
    return load_spec(path, overrides=overrides)


def load_model(path: str | Path) -> Sequential:
    """A model file read with ``nnf.io.load`` (its layers' plugins are imported)."""
    from .. import io

    return io.load(require_file(path, "model file"))


def model_or_spec(path: str | Path, seed: int | None = None) -> tuple[Sequential, ModelSpec | None]:
    """The model a spec builds (with ``seed``) or a model file holds, and the spec if any."""
    if is_spec(path):
        spec = load_spec(path)
        return spec.build(seed=seed), spec
    return load_model(path), None
