"""Tensors in a file: ``{"dtype": str, "shape": [int], "data": bin}``, little-endian, C order."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, ModelFormatError
from .spec import DTYPES, MAX_NDIM

TENSOR_KEYS = frozenset({"dtype", "shape", "data"})
MAX_BIN = 2**32 - 1  # msgpack bin 32 holds at most this many bytes


def encode_tensor(array: np.ndarray, path: str) -> dict[str, Any]:
    """The record for ``array``; raises ``ConfigError`` for a dtype or size the format lacks."""
    array = np.asarray(array)
    name = array.dtype.name
    if name not in DTYPES or array.dtype.kind not in "fiub":
        raise ConfigError(
            f"{path} has dtype {array.dtype} which a model file cannot hold; "
            f"use one of {', '.join(DTYPES)}"
        )
    if array.ndim > MAX_NDIM:
        raise ConfigError(f"{path} has {array.ndim} axes; a model file holds at most {MAX_NDIM}")
    data = array.astype(DTYPES[name], copy=False).tobytes(order="C")
    if len(data) > MAX_BIN:
        raise ConfigError(f"{path} is {len(data):,} bytes; one tensor may hold at most 4 GiB")
    return {"dtype": name, "shape": [int(d) for d in array.shape], "data": data}


# NumPy refuses dimensions near 2**63 with a ValueError even for empty arrays.
MAX_DIM = 2**31


def decode_tensor(record: Any, path: str) -> np.ndarray:
    """A read-only array viewing ``record["data"]``; ``ModelFormatError`` if the record is bad.

    Nothing is allocated before the dtype, shape and byte count agree.
    """
    if not isinstance(record, dict) or set(record) != TENSOR_KEYS:
        raise ModelFormatError(
            f"tensor {path} must be a map with exactly the keys dtype, shape and data"
        )
    dtype_name, shape, data = record["dtype"], record["shape"], record["data"]
    if not isinstance(dtype_name, str) or dtype_name not in DTYPES:
        raise ModelFormatError(
            f"tensor {path} has dtype {dtype_name!r}; allowed: {', '.join(DTYPES)}"
        )
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_NDIM
        or not all(
            isinstance(d, int) and not isinstance(d, bool) and 0 <= d < MAX_DIM for d in shape
        )
    ):
        raise ModelFormatError(
            f"tensor {path} has shape {_short(shape)}; a shape is a list of at most "
            f"{MAX_NDIM} non-negative integers, each below 2**31"
        )
    if not isinstance(data, bytes):
        raise ModelFormatError(f"tensor {path} data must be msgpack bin, got {_kind(data)}")
    dtype = DTYPES[dtype_name]
    # Python integers do not overflow, so a huge declared shape cannot wrap around to match.
    count = 1
    for d in shape:
        count *= d
    if count * dtype.itemsize != len(data):
        raise ModelFormatError(
            f"tensor {path} declares shape {tuple(shape)} of {dtype_name} "
            f"({count * dtype.itemsize:,} bytes) but holds {len(data):,} bytes"
        )
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    if dtype_name == "bool" and data.strip(b"\x00\x01"):
        # NumPy would accept any byte as a bool; only 0 and 1 are valid.
        if np.any(np.frombuffer(data, dtype=np.uint8) > 1):
            raise ModelFormatError(f"tensor {path} is bool but holds bytes other than 0 and 1")
    return array


def _kind(value: Any) -> str:
    return "nil" if value is None else type(value).__name__


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
