"""Read and write IDX files, the format MNIST and Fashion-MNIST are published in.

Layout: two zero bytes, a dtype code, the number of dimensions, one big-endian uint32 per
dimension, then the values in C order, big-endian. Files may be gzipped; that is told
from the first two bytes, never from the file name.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import zlib
from pathlib import Path
from typing import IO, cast

import numpy as np

from ..errors import DataError

__all__ = ["read_idx", "write_idx"]

#: IDX dtype code -> big-endian NumPy dtype.
CODES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF = {dtype.newbyteorder("="): code for code, dtype in CODES.items()}

GZIP_MAGIC = b"\x1f\x8b"
MAX_NDIM = 32
#: Refuse headers that promise more than this (the largest common IDX file is < 1 GiB).
DEFAULT_MAX_BYTES = 4 << 30
_FIX = "re-download it or replace it with a valid IDX file"

PathOrFile = str | os.PathLike[str] | IO[bytes]


def read_idx(source: PathOrFile, *, max_bytes: int = DEFAULT_MAX_BYTES) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a native-endian array of shape ``dims``.

    ``source`` is a path or a binary file object. Raises ``DataError`` naming the file on a
    bad magic number, an unknown dtype code, an absurd header, or a payload that is shorter
    or longer than the header says.
    """
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        try:
            with open(source, "rb") as raw:
                return _read(raw, name, max_bytes)
        except FileNotFoundError:
            raise DataError(f"{name}: no such file; check the path") from None
        except IsADirectoryError:
            raise DataError(f"{name}: is a folder, not an IDX file; pass a file") from None
    return _read(source, str(getattr(source, "name", "<stream>")), max_bytes)


def _read(raw: IO[bytes], name: str, max_bytes: int) -> np.ndarray:
    raw = _rewindable(raw)
    head = raw.read(2)
    raw.seek(-len(head), io.SEEK_CUR)
    if head == GZIP_MAGIC:
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                return _parse(cast(IO[bytes], unzipped), name, max_bytes)  # file-like enough
        except (OSError, EOFError, zlib.error) as exc:  # bad CRC, truncated or garbled stream
            raise DataError(f"{name}: corrupt gzip data ({exc}); {_FIX}") from None
    return _parse(raw, name, max_bytes)


def _rewindable(raw: IO[bytes]) -> IO[bytes]:
    """Sniffing the gzip magic needs a seek back; wrap unseekable streams in memory."""
    seekable = getattr(raw, "seekable", None)
    if seekable is not None and seekable():
        return raw
    return io.BytesIO(raw.read())


def _parse(f: IO[bytes], name: str, max_bytes: int) -> np.ndarray:
    header = _read_exact(f, 4)
    if len(header) < 4:
        raise DataError(f"{name}: too short to be an IDX file ({len(header)} bytes); {_FIX}")
    if header[:2] != b"\0\0":
        raise DataError(
            f"{name}: not an IDX file (magic bytes {header.hex()}, expected 0000 then a "
            f"dtype code and ndim); {_FIX}"
        )
    code, ndim = header[2], header[3]
    if code not in CODES:
        known = ", ".join(f"0x{c:02X}" for c in CODES)
        raise DataError(f"{name}: unknown IDX dtype code 0x{code:02X} (known: {known}); {_FIX}")
    if not 1 <= ndim <= MAX_NDIM:
        raise DataError(f"{name}: IDX header has {ndim} dimensions (1 to {MAX_NDIM}); {_FIX}")
    dims_raw = _read_exact(f, 4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise DataError(f"{name}: truncated IDX header; {_FIX}")
    dims = struct.unpack(f">{ndim}I", dims_raw)
    dtype = CODES[code]
    nbytes = dtype.itemsize
    for d in dims:
        nbytes *= d
    if nbytes > max_bytes:
        raise DataError(
            f"{name}: IDX header claims dims {dims} ({nbytes:,} bytes, limit {max_bytes:,}); {_FIX}"
        )
    payload = _read_exact(f, nbytes)
    if len(payload) < nbytes:
        raise DataError(
            f"{name}: truncated: header says {nbytes:,} bytes of data for dims {dims}, "
            f"found {len(payload):,}; {_FIX}"
        )
    if f.read(1):
        raise DataError(
            f"{name}: oversized: more data than the {nbytes:,} bytes its header declares "
            f"for dims {dims}; {_FIX}"
        )
    array = np.frombuffer(payload, dtype=dtype).reshape(dims)
    if dtype.byteorder == ">":  # payload is a writable bytearray: swap in place, no copy
        array = array.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return array


def _read_exact(f: IO[bytes], n: int) -> bytearray:
    """Read up to ``n`` bytes (fewer only at end of file) into a writable buffer.

    The buffer grows as data arrives, so a header that lies about its size costs no memory.
    """
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(min(n - len(buf), 1 << 24))
        if not chunk:
            break
        buf += chunk
    return buf


def write_idx(target: PathOrFile, array: np.ndarray, *, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file; gzip it when ``compress`` (default: path ends in .gz).

    Supported dtypes: uint8, int8, int16, int32, float32, float64 (any byte order).
    The gzip header carries no time stamp, so equal arrays give equal bytes.
    """
    array = np.asarray(array)
    code = _CODE_OF.get(array.dtype.newbyteorder("="))
    if code is None:
        raise DataError(
            f"cannot write dtype {array.dtype} as IDX; convert to one of "
            "uint8, int8, int16, int32, float32, float64"
        )
    if array.ndim < 1 or array.ndim > MAX_NDIM:
        raise DataError(f"cannot write a {array.ndim}-d array as IDX; use 1 to {MAX_NDIM} dims")
    if any(d >= 1 << 32 for d in array.shape):
        raise DataError(f"cannot write shape {array.shape} as IDX: dims must fit in uint32")
    data = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data += np.ascontiguousarray(array, dtype=CODES[code]).tobytes()
    if isinstance(target, (str, os.PathLike)):
        if compress is None:
            compress = Path(target).name.endswith(".gz")
        if compress:
            data = gzip.compress(data, mtime=0)
        from ..io.durable import atomic_write  # never a torn file after a crash or Ctrl-C

        atomic_write(target, [data])
        return
    target.write(gzip.compress(data, mtime=0) if compress else data)
