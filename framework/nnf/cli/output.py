"""Where output goes: results to stdout, progress and notes to stderr, files written atomically."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from .errors import USAGE, CommandError


class Console:
    """Prints results to stdout and notes to stderr, honouring ``--quiet`` and ``--json``.

    With ``json_mode`` the human-readable results are suppressed: the command prints one JSON
    document with ``emit_json``. ``quiet`` silences notes and progress, never errors.
    """

    def __init__(self, quiet: bool = False, json_mode: bool = False) -> None:
        self.quiet = quiet
        self.json_mode = json_mode

    @property
    def out(self) -> TextIO:
        return sys.stdout

    @property
    def err(self) -> TextIO:
        return sys.stderr

    def result(self, text: str = "") -> None:
        """A human-readable result line (stdout); skipped in JSON mode."""
        if not self.json_mode:
            print(text, file=self.out, flush=True)

    def note(self, text: str) -> None:
        """A remark about what is happening (stderr); skipped with --quiet."""
        if not self.quiet:
            print(text, file=self.err, flush=True)

    def emit_json(self, data: Any) -> None:
        """The command's result as one JSON document on stdout."""
        print(json.dumps(data, indent=2, default=json_default), file=self.out, flush=True)


def json_default(value: Any) -> Any:
    """``default=`` for ``json.dumps``: NumPy scalars and arrays become plain values, anything
    else (Paths, names) its string."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def to_json(data: Any, indent: int | None = 2) -> str:
    """``json.dumps`` that also takes NumPy values and Paths."""
    return json.dumps(data, indent=indent, default=json_default)


# ------------------------------------------------------------------------------ files
def require_file(path: str | Path, what: str) -> Path:
    """``path`` as a Path, or a usage error naming what was expected if it is not a file."""
    p = Path(path)
    if not p.exists():
        raise CommandError(f"{what} {str(p)!r} does not exist", USAGE)
    if p.is_dir():
        raise CommandError(f"{what} {str(p)!r} is a folder, not a file", USAGE)
    return p


def check_writable(paths: Iterable[Path], force: bool) -> None:
    """Refuse to replace existing files unless ``force``; say which file and how to proceed."""
    for path in paths:
        blocked = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        if blocked is not None:  # else mkdir says "File exists", even with --force
            raise CommandError(
                f"{blocked} is a file, not a folder, so {path} cannot be written there; "
                "choose another output path",
                USAGE,
            )
        if path.is_dir():
            raise CommandError(f"{path} is a folder; give a file name", USAGE)
        if path.exists() and not force:
            raise CommandError(
                f"{path} already exists; pass --force to overwrite it or choose another name",
                USAGE,
            )


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` via a temporary file and ``os.replace`` (``nnf.io``'s durable writer):
    the file is never half-written, and an existing one survives a failure or Ctrl-C."""
    from ..io.durable import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, [text.encode("utf-8")])


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, to_json(data) + "\n")


# ------------------------------------------------------------------------------ tables
def table(rows: Sequence[Sequence[Any]], right: Sequence[int] = ()) -> str:
    """Align rows of cells in columns (first row is the header); ``right`` columns right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells if i < len(r)) for i in range(len(cells[0]))]
    lines = []
    for row in cells:
        parts = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=False))
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)
