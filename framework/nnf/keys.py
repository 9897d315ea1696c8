"""Registry keys, ``namespace.Name.vN``: parsed without NumPy so that listing plugins is fast."""

from __future__ import annotations

import re

from .errors import ConfigError

#: ``namespace.Name.vN``: the namespace may itself be dotted (``acme.vision``).
KEY_PATTERN = re.compile(
    r"^(?P<ns>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\.(?P<name>[A-Za-z_]\w*)\.v(?P<v>[1-9]\d*)$"
)


def parse_key(key: str) -> tuple[str, str, int]:
    """Split ``"acme.Gated.v2"`` into ``("acme", "Gated", 2)``; ``ConfigError`` if malformed."""
    match = KEY_PATTERN.match(key) if isinstance(key, str) else None
    if match is None:
        raise ConfigError(
            f"layer key {key!r} is malformed: use 'namespace.Name.vN', e.g. 'acme.Gated.v1'"
        )
    return match["ns"], match["name"], int(match["v"])
