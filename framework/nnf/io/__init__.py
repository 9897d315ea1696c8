"""The ``.nnf`` model file: one msgpack map, safe to load, versioned, never half-written.

    model.save("digits.nnf")                 # or nnf.io.save(model, path, metadata={...})
    model = nnf.load("digits.nnf")           # architecture, weights, optimizer, progress
    nnf.inspect("digits.nnf")                # what the file holds and needs; imports no plugin
    model.load_weights("digits.nnf")         # parameters only, from .nnf or .npz

Every loading failure raises ``nnf.errors.ModelFormatError``. docs/format.md specifies the
file; ``spec.py`` holds its constants, ``encode``/``decode`` the two directions, ``rebuild``
the registry lookup, ``durable`` the atomic write.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .decode import decode
from .durable import atomic_write, read_limited
from .encode import document, dumps, pack_chunks
from .inspection import inspect
from .rebuild import rebuild
from .spec import FORMAT_VERSION, size_limit
from .weights import WeightsReport, export_npz, load_weights

if TYPE_CHECKING:
    from ..model import Sequential

__all__ = [
    "FORMAT_VERSION",
    "WeightsReport",
    "dumps",
    "export_npz",
    "inspect",
    "load",
    "load_weights",
    "loads",
    "save",
]


def save(
    model: Sequential,
    path: str | os.PathLike[str],
    include_optimizer: bool = True,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write ``model`` to ``path`` atomically: a crash leaves the old file or the new one.

    ``include_optimizer`` keeps the optimizer's state so that training resumes exactly;
    ``metadata`` is free-form ``str -> str``. Raises ``ConfigError`` for a model the format
    cannot hold (an unregistered layer, a dotted layer name) before touching the disk.
    """
    doc = document(model, include_optimizer, metadata)
    atomic_write(path, pack_chunks(doc))


def loads(data: bytes, max_bytes: int | None = None) -> Sequential:
    """The ``Sequential`` stored in ``data`` (the bytes of a ``.nnf`` file)."""
    return rebuild(decode(data, max_bytes))


def load(path: str | os.PathLike[str], max_bytes: int | None = None) -> Sequential:
    """The ``Sequential`` stored at ``path``: layers come from installed plugins only.

    ``max_bytes`` (default ``$NNF_MAX_MODEL_BYTES`` or 2 GiB) is checked before reading.
    """
    return loads(read_limited(path, size_limit(max_bytes)), max_bytes)
