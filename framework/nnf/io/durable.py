"""Crash-safe file writes and size-limited reads.

A save writes a temporary file in the target's folder, fsyncs it, renames it over the
target (atomic on POSIX and Windows) and fsyncs the folder, so a crash at any moment
leaves the old file or the new one, never a torn one.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ..errors import ConfigError, ModelFormatError

TEMP_SUFFIX = ".tmp"


def temp_prefix(target: Path) -> str:
    """Temporary files of a save of ``target`` are ``.<name>.<random>.tmp`` beside it."""
    return f".{target.name}."


def _new_file_mode() -> int:
    """0o666 minus the process umask, as ``open()`` would create (mkstemp gives 0o600)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no other portable way to read it
    os.umask(mask)
    return 0o666 & ~mask


def fsync_dir(folder: Path) -> None:
    # The rename is only durable once the directory entry is on disk; Windows cannot open
    # a directory this way and does not need it.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], chunks: Iterable[bytes]) -> None:
    """Write the concatenated ``chunks`` to ``path`` atomically and durably.

    On any exception (including KeyboardInterrupt) the temporary file is removed and an
    existing ``path`` is left untouched.
    """
    target = Path(path)
    folder = target.parent
    if target.is_dir():
        raise ConfigError(f"cannot write {str(target)!r}: it is a folder; name a file inside it")
    if not folder.is_dir():
        raise ConfigError(
            f"cannot write {str(target)!r}: the folder {str(folder)!r} does not exist; create it"
        )
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        mode = _new_file_mode()
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target), suffix=TEMP_SUFFIX, dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
            if hasattr(os, "fchmod"):
                os.fchmod(out.fileno(), mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(folder)


def read_limited(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of ``path``; the size is checked against ``limit`` before reading."""
    name = os.fspath(path)
    try:
        # stat before open: opening a FIFO or a device could block or never end.
        info = os.stat(name)
        if not stat.S_ISREG(info.st_mode):
            raise ModelFormatError(f"{name!r} is not a regular file")
        if info.st_size > limit:
            raise ModelFormatError(
                f"{name!r} is {info.st_size:,} bytes, over the {limit:,}-byte limit; "
                "raise it with max_bytes=... or NNF_MAX_MODEL_BYTES if you trust it"
            )
        with open(name, "rb") as f:
            data = f.read(limit + 1)  # the file may grow between stat and read
    except OSError as exc:
        raise ModelFormatError(
            f"cannot read the model file {name!r}: {exc.strerror or exc}"
        ) from None
    if len(data) > limit:
        raise ModelFormatError(f"{name!r} is over the {limit:,}-byte limit")
    return data
