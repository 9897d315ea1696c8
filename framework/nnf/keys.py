"""Registry keys, ``namespace.Name.vN``: parsed without NumPy so that listing plugins is fast."""

from __future__ import annotations

import re
from typing import Any

from .errors import ConfigError

#: The longest key accepted (docs/format.md, section 4).
MAX_KEY_LENGTH = 200

#: ``namespace.Name.vN``: the namespace may itself be dotted (``acme.vision``). ASCII only:
#: letters, digits and ``_`` spelled out (``\w`` and ``\d`` take any Unicode letter or digit),
#: anchored with ``\A``/``\Z`` (``$`` accepts a trailing newline), so ``match`` and
#: ``fullmatch`` agree.
KEY_PATTERN = re.compile(
    r"\A(?P<ns>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
    r"\.(?P<name>[A-Za-z_][A-Za-z0-9_]*)\.v(?P<v>[1-9][0-9]*)\Z",
    re.ASCII,
)


def is_key(key: Any) -> bool:
    """Whether ``key`` is a well-formed registry key: the whole string, at most 200 characters."""
    return (
        isinstance(key, str)
        and len(key) <= MAX_KEY_LENGTH
        and KEY_PATTERN.fullmatch(key) is not None
    )


def parse_key(key: str) -> tuple[str, str, int]:
    """Split ``"acme.Gated.v2"`` into ``("acme", "Gated", 2)``; ``ConfigError`` if malformed."""
    match = KEY_PATTERN.fullmatch(key) if is_key(key) else None
    if match is None:
        raise ConfigError(
            f"layer key {key!r} is malformed: use 'namespace.Name.vN' (ASCII letters, digits "
            f"and '_', at most {MAX_KEY_LENGTH} characters), e.g. 'acme.Gated.v1'"
        )
    return match["ns"], match["name"], int(match["v"])
