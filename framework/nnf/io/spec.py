"""The constants of the ``.nnf`` format and the chain of migrations from older versions.

docs/format.md is the reference; every name here appears there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ModelFormatError

#: The value of the top-level ``format`` key: tells an nnf file from any other msgpack map.
FORMAT_MARKER = "nnf-model"
#: The format version this nnf writes, and the newest it reads.
FORMAT_VERSION = 1

#: The integrity trailer: every file ends with the top-level entry ``"sha256": bin8(32)``,
#: whose digest covers every byte before it (docs/format.md, "Integrity").
CHECKSUM_KEY = "sha256"
DIGEST_SIZE = 32
TRAILER_PREFIX = b"\xa6sha256\xc4\x20"  # fixstr(6) "sha256", bin8 header of length 32
TRAILER_SIZE = len(TRAILER_PREFIX) + DIGEST_SIZE

#: Tensor element types a file may hold, by their NumPy names; data is little-endian.
DTYPES: dict[str, np.dtype] = {
    name: np.dtype(name).newbyteorder("<")
    for name in (
        "float16",
        "float32",
        "float64",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "bool",
    )
}
MAX_NDIM = 8

#: Layer, array and slot names: 1-128 code points, none of them "." or a control character
#: (Unicode category Cc: U+0000-U+001F and U+007F-U+009F, C1 included). A tensor's path is
#: ``layer.param``, so a dot inside a name would make paths ambiguous.
NAME_MAX = 128
NAME_PATTERN = re.compile(rf"\A[^.\x00-\x1f\x7f-\x9f]{{1,{NAME_MAX}}}\Z")

#: Containers nested in a layer config, the config map itself being depth 1.
MAX_CONFIG_DEPTH = 32
#: Containers nested in a whole file, the top-level map being depth 1 (msgpack's C unpacker).
MAX_FILE_DEPTH = 1024
#: Largest msgpack array/map accepted anywhere in a file.
MAX_CONTAINER_LEN = 1 << 20

DEFAULT_MAX_BYTES = 2 * 1024**3
MAX_BYTES_ENV = "NNF_MAX_MODEL_BYTES"


def size_limit(limit: int | None = None) -> int:
    """The file size limit: ``limit``, else ``$NNF_MAX_MODEL_BYTES``, else 2 GiB."""
    if limit is not None:
        return int(limit)
    raw = os.environ.get(MAX_BYTES_ENV, "").strip()
    if raw:
        try:
            return int(raw)
        except ValueError:
            raise ModelFormatError(
                f"{MAX_BYTES_ENV}={raw!r} is not a whole number of bytes; unset it or fix it"
            ) from None
    return DEFAULT_MAX_BYTES


def valid_name(name: Any) -> bool:
    """Whether ``name`` may name a layer, an array or an optimizer slot (docs/format.md, 4)."""
    return isinstance(name, str) and NAME_PATTERN.fullmatch(name) is not None


# ---------------------------------------------------------------------------- migrations
Document = dict[str, Any]
Migration = Callable[[Document], Document]

#: ``MIGRATIONS[v]`` turns a decoded version-``v`` document into a version-``v + 1`` one.
#: Version 1 is the first release, so the chain is empty; tests register synthetic steps.
MIGRATIONS: dict[int, Migration] = {}


def register_migration(from_version: int) -> Callable[[Migration], Migration]:
    """Decorator: register the step that upgrades documents of ``from_version`` by one."""

    def decorate(fn: Migration) -> Migration:
        MIGRATIONS[from_version] = fn
        return fn

    return decorate


def migrate(doc: Document, version: int, writer_nnf: str | None) -> Document:
    """Upgrade a decoded document of format ``version`` to ``FORMAT_VERSION``, step by step."""
    if version > FORMAT_VERSION:
        raise ModelFormatError(
            f"this file uses nnf model format version {version} but this nnf reads versions "
            f"up to {FORMAT_VERSION}: upgrade nnf to >= {newer_release(writer_nnf)}"
        )
    for step in range(version, FORMAT_VERSION):
        fn = MIGRATIONS.get(step)
        if fn is None:
            raise ModelFormatError(
                f"nnf model format version {version} is no longer supported (no migration from "
                f"version {step}): load it with an older nnf and save it again"
            )
        try:
            doc = fn(doc)
        except ModelFormatError:
            raise
        except Exception as exc:  # a migration meets a damaged old file
            raise ModelFormatError(
                f"cannot upgrade the file from format version {step}: {type(exc).__name__}: {exc}"
            ) from None
        doc["format_version"] = step + 1
    return doc


def newer_release(writer_nnf: str | None) -> str:
    """The nnf release that wrote a newer file, when the file says so plausibly."""
    if isinstance(writer_nnf, str) and re.fullmatch(r"\d+(\.\d+){0,3}([a-z]+\d*)?", writer_nnf):
        return writer_nnf
    return "the release that wrote it"
