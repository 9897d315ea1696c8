"""Bytes to a plain document: size limit, integrity trailer, then msgpack with strict limits.

Nothing here knows the schema; ``decode.py`` checks the document's contents.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgpack

from ..errors import ModelFormatError
from .spec import DIGEST_SIZE, MAX_CONTAINER_LEN, TRAILER_PREFIX, TRAILER_SIZE


def check_integrity(data: bytes, limit: int) -> bytes:
    """Check size and trailer, then SHA-256 over everything before the digest; return it."""
    size = len(data)
    if size > limit:
        raise ModelFormatError(
            f"the model file is {size:,} bytes, over the {limit:,}-byte limit; "
            "raise it with max_bytes=... or NNF_MAX_MODEL_BYTES if you trust the file"
        )
    if size <= TRAILER_SIZE or data[-TRAILER_SIZE:-DIGEST_SIZE] != TRAILER_PREFIX:
        hint = " (it looks like a .npz archive: use load_weights)" if data[:2] == b"PK" else ""
        raise ModelFormatError(
            "not an nnf model file, or a truncated one: it does not end with the sha256 "
            f"trailer{hint}"
        )
    digest = data[-DIGEST_SIZE:]
    if hashlib.sha256(memoryview(data)[:-DIGEST_SIZE]).digest() != digest:
        raise ModelFormatError(
            "the model file is corrupted: its sha256 checksum does not match its contents "
            "(damaged or partly overwritten); restore it from a copy"
        )
    return bytes(digest)


def _pairs_to_dict(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    # Keys must be unique strings: msgpack itself would silently keep the last duplicate.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if not isinstance(key, str):
            raise ModelFormatError(f"map keys must be strings, got {type(key).__name__}")
        if key in out:
            raise ModelFormatError(f"map key {key[:60]!r} appears twice")
        out[key] = value
    return out


def _no_ext(code: int, data: bytes) -> Any:
    raise ModelFormatError(f"msgpack extension type {code} is not allowed in a model file")


def unpack(data: bytes) -> Any:
    """Decode one msgpack object filling all of ``data``; every failure is ModelFormatError.

    The limits derive from the size: nothing can declare more items or bytes than the file
    holds, and containers nest at most as deep as the C unpacker's stack (1024). ``unpackb``
    reads ``data`` in place; its buffer limit is ``len(data)``, already checked against the
    file size limit (a streaming ``Unpacker`` would copy the whole file into its buffer).
    """
    size = len(data)
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            use_list=True,
            object_pairs_hook=_pairs_to_dict,
            ext_hook=_no_ext,
            max_str_len=size,
            max_bin_len=size,
            max_array_len=min(size, MAX_CONTAINER_LEN),
            max_map_len=min(size // 2, MAX_CONTAINER_LEN),
            max_ext_len=0,  # refuses every extension, the built-in timestamp included
        )
    except ModelFormatError:
        raise
    except msgpack.ExtraData as exc:
        raise ModelFormatError(
            f"the file has {len(exc.extra):,} stray bytes after its msgpack map"
        ) from None
    except RecursionError:  # the pure-Python fallback unpacker recurses
        raise ModelFormatError("the file's msgpack data nests too deeply") from None
    except Exception as exc:  # msgpack raises ValueError, StackError, FormatError, ...
        if "max_ext_len" in str(exc):
            raise ModelFormatError(
                "msgpack extension types are not allowed in a model file"
            ) from None
        raise ModelFormatError(
            f"the file is not valid msgpack: {type(exc).__name__}: {str(exc)[:200]}"
        ) from None
