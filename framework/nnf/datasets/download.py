"""Download one file from a list of mirrors, verified by SHA-256, written atomically.

The body streams into a temporary file beside the target while it is hashed; only a complete,
verified file is fsync'ed and renamed onto the target, so a failed, interrupted or corrupt
download leaves neither the target nor a stray temporary file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, TextIO

from ..errors import DataError
from ..io.durable import fsync_dir

__all__ = ["DEFAULT_MAX_BYTES", "download_file"]

CHUNK = 64 * 1024
DEFAULT_MAX_BYTES = 256 << 20
GZIP_MAGIC = b"\x1f\x8b"
HINT = "check the network, or fetch the file by hand"


class _MirrorFailed(Exception):
    """One mirror did not deliver a verified file; the next one is tried."""


def download_file(
    urls: str | Sequence[str],
    dest: str | os.PathLike[str],
    sha256: str,
    *,
    sha256_of: Literal["file", "content"] = "file",
    timeout: float = 30.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: bool = True,
    stream: TextIO | None = None,
    hint: str = HINT,
) -> Path:
    """Fetch ``dest`` from the first of ``urls`` that delivers it intact; return ``dest``.

    ``sha256`` is the expected hex digest of the bytes as received, or with
    ``sha256_of="content"`` of their gunzipped content (of the bytes themselves when they
    are not gzip), which stays the same when a mirror re-compresses the file. ``timeout``
    (seconds) bounds each connect and read; ``max_bytes`` caps the body and, for
    ``"content"``, the decompressed size. Progress goes to ``stream`` (default stderr).
    Raises ``DataError`` naming every URL tried, why it failed, and ``hint``.
    """
    url_list = [urls] if isinstance(urls, str) else list(urls)
    if not url_list:
        raise DataError(f"no URL to download {Path(dest).name} from; {hint}")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    out = stream if stream is not None else sys.stderr
    failures = []
    for url in url_list:
        try:
            _fetch(url, dest, sha256.lower(), sha256_of, timeout, max_bytes, out, progress)
            return dest
        except _MirrorFailed as exc:
            failures.append(f"{url}: {exc}")
            if progress:
                print(f"nnf: {url} failed: {exc}", file=out, flush=True)
    raise DataError(f"download of {dest.name} failed ({'; '.join(failures)}); {hint}")


def _fetch(
    url: str,
    dest: Path,
    sha256: str,
    sha256_of: str,
    timeout: float,
    max_bytes: int,
    stream: TextIO,
    progress: bool,
) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            hasher = _ContentHash(max_bytes) if sha256_of == "content" else hashlib.sha256()
            received, total = _stream_body(url, out, hasher, timeout, max_bytes, stream, progress)
            if total is not None and received < total:
                raise _MirrorFailed(f"connection closed after {received:,} of {total:,} bytes")
            digest = hasher.hexdigest()
            if digest != sha256:
                raise _MirrorFailed(f"SHA-256 mismatch: got {digest}, expected {sha256}")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except BaseException:  # including KeyboardInterrupt: never leave the .part file
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _stream_body(url, out, hasher, timeout, max_bytes, stream, progress) -> tuple[int, int | None]:
    """Copy the response body of ``url`` into ``out`` and ``hasher``; return (received, total)."""
    request = urllib.request.Request(url, headers={"User-Agent": "nnf-datasets"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length", "")
            total = int(length) if length.strip().isdigit() else None
            if total is not None and total > max_bytes:
                raise _MirrorFailed(f"{total:,} bytes is over the {max_bytes:,}-byte limit")
            bar = _Progress(url, total, stream, progress)
            received = 0
            while chunk := response.read(CHUNK):
                received += len(chunk)
                if received > max_bytes:
                    raise _MirrorFailed(f"body is over the {max_bytes:,}-byte limit")
                hasher.update(chunk)
                out.write(chunk)
                bar.update(received)
            bar.close(received)
            return received, total
    except urllib.error.HTTPError as exc:
        raise _MirrorFailed(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise _MirrorFailed(f"cannot connect ({exc.reason})") from None
    except TimeoutError:
        raise _MirrorFailed(f"no data for {timeout:g} s (timeout)") from None
    except (http.client.HTTPException, OSError, ValueError, zlib.error) as exc:
        raise _MirrorFailed(f"{type(exc).__name__}: {exc}") from None


class _ContentHash:
    """SHA-256 of a stream's gunzipped content (of the stream itself if it is not gzip)."""

    def __init__(self, max_bytes: int) -> None:
        self._sha = hashlib.sha256()
        self._head = b""
        self._inflate: zlib._Decompress | None = None
        self._raw: bool | None = None
        self._size = 0
        self._max = max_bytes

    def update(self, chunk: bytes) -> None:
        if self._raw is None:  # undecided until the first two bytes are in
            self._head += chunk
            if len(self._head) < 2:
                return
            chunk, self._head = self._head, b""
            self._raw = chunk[:2] != GZIP_MAGIC
            if not self._raw:
                self._inflate = zlib.decompressobj(wbits=31)
        if self._raw:
            self._add(chunk)
            return
        try:
            while chunk:  # bounded output per step, so a gzip bomb hits the cap, not memory
                assert self._inflate is not None
                self._add(self._inflate.decompress(chunk, CHUNK))
                if self._inflate.eof:  # a further gzip member may follow
                    chunk = self._inflate.unused_data
                    if chunk:
                        self._inflate = zlib.decompressobj(wbits=31)
                else:
                    chunk = self._inflate.unconsumed_tail
        except zlib.error as exc:
            raise _MirrorFailed(f"corrupt gzip data ({exc})") from None

    def _add(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._max:
            raise _MirrorFailed(f"content is over the {self._max:,}-byte limit")
        self._sha.update(data)

    def hexdigest(self) -> str:
        if self._raw is None:  # fewer than two bytes in all
            self._add(self._head)
        elif self._inflate is not None:
            try:
                self._add(self._inflate.flush())
            except zlib.error as exc:
                raise _MirrorFailed(f"corrupt gzip data ({exc})") from None
            if not self._inflate.eof:
                raise _MirrorFailed("gzip data ends early (truncated file)")
        return self._sha.hexdigest()


class _Progress:
    """A bar redrawn in place on a terminal; a few plain lines otherwise; nothing if disabled."""

    def __init__(self, url: str, total: int | None, stream: TextIO, enabled: bool) -> None:
        self.url, self.total, self.stream, self.enabled = url, total, stream, enabled
        isatty = getattr(stream, "isatty", None)
        self.tty = bool(isatty and isatty())
        self.name = url.rsplit("/", 1)[-1] or url
        self.last_draw = 0.0
        self.next_mark = 0.25  # plain mode: report at 25 %, 50 %, 75 %
        if enabled and not self.tty:
            size = f" ({_mb(total)})" if total is not None else ""
            self._line(f"nnf: downloading {url}{size}")

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        if self.tty:
            now = time.monotonic()
            if now - self.last_draw >= 0.1:
                self.last_draw = now
                self._draw(done)
        elif self.total and done < self.total and done >= self.next_mark * self.total:
            self._line(f"nnf:   {self.name}: {100 * done // self.total}% of {_mb(self.total)}")
            while done >= self.next_mark * self.total:
                self.next_mark += 0.25

    def close(self, done: int) -> None:
        if not self.enabled:
            return
        if self.tty:
            self._draw(done)
            self.stream.write("\n")
            self.stream.flush()
        else:
            self._line(f"nnf:   {self.name}: received {_mb(done)}")

    def _draw(self, done: int) -> None:
        if self.total:
            frac = min(done / self.total, 1.0)
            bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
            text = f"\r{self.name} [{bar}] {100 * frac:5.1f}% {_mb(done)}/{_mb(self.total)}"
        else:
            text = f"\r{self.name} {_mb(done)}"
        self.stream.write(text)
        self.stream.flush()

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


def _mb(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e6:.1f} MB"
