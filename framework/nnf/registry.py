"""The layer registry: layer classes discovered through the ``nnf.layers`` entry-point group.

An entry point's name is the layer's registry key and its value ``module:Class``:

    [project.entry-points."nnf.layers"]
    "acme.Gated.v1" = "acme_layers.gated:Gated"

Metadata is scanned once, on first use. A plugin is imported only when its key is asked for
(or by ``check()``); a plugin that fails is recorded with its distribution and cause and only
its own key fails. Built-in layers come through the same group, from the ``nnf`` distribution.

Environment: ``NNF_DISABLE_PLUGIN_AUTOLOAD=1`` skips every third-party entry point;
``NNF_BLOCK_PLUGINS=name,...`` skips the listed distributions or keys.
"""

from __future__ import annotations

import difflib
import os
import re
import threading
from collections.abc import Iterable
from importlib import metadata
from typing import TYPE_CHECKING, Any

import attrs

from .errors import PluginLoadError, RegistrationError, UnknownLayerError
from .keys import is_key, parse_key

if TYPE_CHECKING:
    from .layer import Layer

GROUP = "nnf.layers"
BUILTIN_DIST = "nnf-framework"
RESERVED_NAMESPACE = "nnf"
SCRIPT_DIST = "<script>"

OK, UNLOADED, BROKEN, CONFLICT, BLOCKED = "ok", "unloaded", "broken", "conflict", "blocked"


def canonical_dist(name: str | None) -> str:
    """PEP 503 normalised distribution name (``NNF_Example.Plugin`` -> ``nnf-example-plugin``)."""
    return re.sub(r"[-_.]+", "-", name or "").lower()


@attrs.define(eq=False)
class PluginEntry:
    """What the registry knows of one key: where it comes from and whether it loads."""

    key: str
    value: str  # "module:Class", or the class's qualified name for script registrations
    dist: str  # distribution name, or "<script>"
    dist_version: str | None
    status: str = UNLOADED
    cause: str | None = None
    cls: type[Layer] | None = None
    others: list[tuple[str, str | None]] = attrs.Factory(list)  # conflicting (dist, version)
    ep: Any = attrs.field(default=None, repr=False)  # importlib.metadata.EntryPoint

    @property
    def builtin(self) -> bool:
        return canonical_dist(self.dist) == BUILTIN_DIST

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "dist": self.dist,
            "version": self.dist_version,
            "value": self.value,
            "status": self.status,
            "cause": self.cause,
            "conflicts_with": [d for d, _ in self.others],
        }


def _blocked_names() -> set[str]:
    raw = os.environ.get("NNF_BLOCK_PLUGINS", "")
    return {n.strip() for n in raw.split(",") if n.strip()}


def _autoload_disabled() -> bool:
    return os.environ.get("NNF_DISABLE_PLUGIN_AUTOLOAD", "").strip().lower() in {"1", "true", "yes"}


class Registry:
    """Maps registry keys (``nnf.Dense.v1``) and short names (``Dense``) to layer classes."""

    def __init__(self, group: str = GROUP) -> None:
        self.group = group
        self._entries: dict[str, PluginEntry] | None = None
        self._rejected: list[PluginEntry] = []  # entry points refused outright (bad key, nnf.*)
        self._blocked: set[str] = set()
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ discovery
    def _discover(self) -> dict[str, PluginEntry]:
        with self._lock:
            if self._entries is None:
                self._entries, self._rejected = {}, []
                self._scan()
            return self._entries

    def _scan(self) -> None:
        blocked = self._blocked | _blocked_names()
        blocked_dists = {canonical_dist(b) for b in blocked}
        third_party_off = _autoload_disabled()
        seen: dict[str, list[PluginEntry]] = {}
        for ep in metadata.entry_points(group=self.group):
            dist = ep.dist.name if ep.dist is not None else "<unknown>"
            version = ep.dist.version if ep.dist is not None else None
            entry = PluginEntry(key=ep.name, value=ep.value, dist=dist, dist_version=version, ep=ep)
            if not entry.builtin and third_party_off:
                continue
            if not is_key(ep.name):
                entry.status, entry.cause = (
                    BROKEN,
                    (f"entry-point name {ep.name!r} is not a key of the form 'namespace.Name.vN'"),
                )
                self._rejected.append(entry)
                continue
            if not entry.builtin and parse_key(ep.name)[0].split(".")[0] == RESERVED_NAMESPACE:
                entry.status, entry.cause = (
                    BROKEN,
                    (
                        f"{dist} may not register {ep.name!r}: the 'nnf.' namespace is reserved "
                        "for nnf's own layers; use your own namespace, e.g. 'acme.Name.v1'"
                    ),
                )
                self._rejected.append(entry)
                continue
            if canonical_dist(dist) in blocked_dists or ep.name in blocked:
                entry.status, entry.cause = BLOCKED, "blocked by NNF_BLOCK_PLUGINS or block()"
            claims = seen.setdefault(ep.name, [])
            if not any(canonical_dist(c.dist) == canonical_dist(dist) for c in claims):
                claims.append(entry)
        assert self._entries is not None  # _discover starts every scan with {}
        for key, claims in seen.items():
            # A distribution blocked by name gives up its claim: the others stand on their own.
            active = [c for c in claims if c.status != BLOCKED] or claims[:1]
            first = active[0]
            if len(active) > 1:
                first.status = CONFLICT
                first.others = [(c.dist, c.dist_version) for c in active[1:]]
                names = " and ".join(f"{c.dist} {c.dist_version or ''}".strip() for c in active)
                first.cause = (
                    f"key {key!r} is registered by both {names}; uninstall one of them "
                    "(pip uninstall <name>)"
                )
            self._entries[key] = first

    def reload(self) -> None:
        """Scan the installed metadata again (after pip install); script registrations stay."""
        with self._lock:
            scripts = [e for e in (self._entries or {}).values() if e.dist == SCRIPT_DIST]
            self._entries = None
            entries = self._discover()
            for entry in scripts:
                entries.setdefault(entry.key, entry)

    def block(self, *names: str) -> None:
        """Skip the named distributions or keys from now on (rescans the metadata)."""
        self._blocked.update(names)
        self.reload()

    # ------------------------------------------------------------------- lookup
    def entries(self) -> list[PluginEntry]:
        """Every known entry, sorted by key, without importing any plugin."""
        entries = list(self._discover().values()) + list(self._rejected)
        return sorted(entries, key=lambda e: (e.key, e.dist))

    def entry(self, key: str) -> PluginEntry | None:
        """The entry for an exact key, or None; imports nothing."""
        return self._discover().get(key)

    def keys(self) -> list[str]:
        return sorted(self._discover())

    def check(self) -> list[PluginEntry]:
        """Import every plugin and return all entries with their final status."""
        for key in self.keys():
            try:
                self._load(self._discover()[key])
            except PluginLoadError:
                pass  # the entry records its status and cause
        return self.entries()

    def resolve_key(self, name: str) -> str:
        """Turn ``Dense``, ``nnf.Dense`` or ``nnf.Dense.v1`` into a full registry key.

        A short name maps to the newest version; nnf's own layers win a short name shared
        with a plugin, and a short name two plugins share must be written in full.
        """
        if not isinstance(name, str) or not name:
            raise UnknownLayerError(f"layer name must be a non-empty string, got {name!r}")
        entries = self._discover()
        if name in entries:
            return name
        candidates: dict[str, list[tuple[int, str]]] = {}
        for key in entries:
            ns, short, version = parse_key(key)
            if name in (short, f"{ns}.{short}"):
                candidates.setdefault(ns, []).append((version, key))
        if not candidates:
            raise UnknownLayerError(self._unknown_message(name))
        if len(candidates) > 1:
            if RESERVED_NAMESPACE in candidates:
                candidates = {RESERVED_NAMESPACE: candidates[RESERVED_NAMESPACE]}
            else:
                keys = sorted(k for vs in candidates.values() for _, k in vs)
                raise UnknownLayerError(
                    f"layer name {name!r} is ambiguous: write one of {', '.join(keys)} in full"
                )
        (versions,) = candidates.values()
        return max(versions)[1]

    def _unknown_message(self, name: str) -> str:
        known = sorted({parse_key(k)[1] for k in self._discover()} | set(self._discover()))
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        return (
            f"no layer named {name!r} is installed; {hint}'nnf layers' lists the installed layers"
        )

    def get(self, name: str) -> type[Layer]:
        """The layer class for a key or short name, importing its plugin if needed."""
        key = self.resolve_key(name)
        return self._load(self._discover()[key])

    def _load(self, entry: PluginEntry) -> type[Layer]:
        with self._lock:
            if entry.status == OK and entry.cls is not None:
                return entry.cls
            if entry.status in (CONFLICT, BLOCKED, BROKEN):
                raise PluginLoadError(self._failure(entry))
            try:
                obj = entry.ep.load()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # a plugin's import may raise anything, even SystemExit
                entry.status = BROKEN
                entry.cause = f"importing {entry.value} raised {type(exc).__name__}: {exc}"
                raise PluginLoadError(self._failure(entry)) from None
            problem = _class_problem(obj, entry.key)
            if problem:
                entry.status, entry.cause = BROKEN, problem
                raise PluginLoadError(self._failure(entry))
            entry.status, entry.cls = OK, obj
            return obj

    @staticmethod
    def _failure(entry: PluginEntry) -> str:
        where = f"{entry.dist} {entry.dist_version or ''}".strip()
        return f"layer {entry.key!r} from {where} cannot be used: {entry.cause}"

    # -------------------------------------------------------------- registration
    def register(self, cls: type[Layer], key: str | None = None, override: bool = False) -> None:
        """Register a layer class defined in a script (no entry point needed)."""
        key = key if key else getattr(cls, "key", "")
        problem = _class_problem(cls, key)
        if problem:
            raise RegistrationError(problem)
        entries = self._discover()
        with self._lock:
            existing = entries.get(key)
            if existing is not None and not override and existing.cls is not cls:
                raise RegistrationError(
                    f"key {key!r} is already registered by {existing.dist}; pick another key "
                    "or pass override=True to replace it"
                )
            entries[key] = PluginEntry(
                key=key,
                value=f"{cls.__module__}:{cls.__qualname__}",
                dist=SCRIPT_DIST,
                dist_version=None,
                status=OK,
                cls=cls,
            )

    def unregister(self, key: str) -> None:
        """Remove a script registration (installed plugins come back on ``reload``)."""
        self._discover().pop(key, None)


def _class_problem(obj: Any, key: str) -> str | None:
    """Why ``obj`` cannot serve as the layer for ``key``, or None if it can."""
    from .layer import Layer  # here, not at the top: listing plugins must not import NumPy

    if not (isinstance(obj, type) and issubclass(obj, Layer)):
        return f"{obj!r} is not a subclass of nnf.Layer"
    if not is_key(key):
        return f"key {key!r} is not of the form 'namespace.Name.vN'"
    if obj.key != key:
        return (
            f"{obj.__qualname__}.key is {obj.key!r} but it is registered as {key!r}; "
            "make the entry-point name equal the class's key"
        )
    return None


REGISTRY = Registry()


def get_layer(name: str) -> type[Layer]:
    """The layer class registered as ``name`` (a key like ``nnf.Dense.v1`` or ``Dense``)."""
    return REGISTRY.get(name)


def register_layer(
    cls: type[Layer] | None = None, *, key: str | None = None, override: bool = False
) -> Any:
    """Register a layer class from a script; usable as ``@register_layer`` or a call."""

    def decorate(c: type[Layer]) -> type[Layer]:
        REGISTRY.register(c, key=key, override=override)
        return c

    return decorate(cls) if cls is not None else decorate


def list_layers(check: bool = False) -> Iterable[PluginEntry]:
    """Every registered entry; ``check=True`` imports each plugin to confirm it works."""
    return REGISTRY.check() if check else REGISTRY.entries()
