"""A layer's options as data: name, type in a model file, default, allowed values, meaning.

Read from the layer's own attrs fields, so ``nnf layers --config`` and the generated tables
of docs/layers.md (``python -m nnf.docgen``) cannot drift from the code. A field documents
itself with ``attrs.field(..., metadata={"doc": "what it means"})``; ``"required": True``
marks an option whose default (None) the layer refuses. A validator carrying ``options``
(the allowed values) or ``minimum`` (the least int) is shown too.
"""

from __future__ import annotations

from typing import Any

import attrs

from .layer import Layer, _json_safe

#: How Python annotations read in a model file (msgpack / JSON types).
FILE_TYPES = {
    "int": "int",
    "float": "number",
    "str": "string",
    "bool": "bool",
    "Shape": "array of ints",
    "tuple[int, ...]": "array of ints",
    "list[int]": "array of ints",
    "list[Layer]": "array of layer records",
}


@attrs.frozen
class LayerOption:
    """One option of a layer's ``config``."""

    name: str
    type: str  # as stored in a file: "int", "int or null", "number", "array of ints", ...
    default: Any  # JSON-safe; None (null) when there is none and ``required`` is True
    required: bool
    choices: tuple[Any, ...] | None  # the allowed values, when the layer lists them
    doc: str

    def as_dict(self) -> dict[str, Any]:
        out = attrs.asdict(self)
        out["choices"] = list(self.choices) if self.choices is not None else None
        return out


def file_type(annotation: Any) -> str:
    """``"int | None"`` -> ``"int or null"``; unknown names are kept as written."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    parts = [p.strip() for p in str(text or "any").split("|")]
    nullable = "None" in parts
    names = [FILE_TYPES.get(p, p) for p in parts if p != "None"] or ["null"]
    return " or ".join(names) + (" or null" if nullable and names != ["null"] else "")


def _default(field: attrs.Attribute) -> tuple[Any, bool]:
    """(JSON-safe default, whether the option is required)."""
    if field.default is attrs.NOTHING:
        return None, True
    value: Any = field.default
    if isinstance(value, attrs.Factory):  # type: ignore[arg-type]
        value = None if value.takes_self else value.factory()
    return _json_safe(value), bool(field.metadata.get("required", False))


def layer_options(cls: type[Layer]) -> tuple[LayerOption, ...]:
    """The options of ``cls`` in ``config`` order (its ``__init__`` arguments)."""
    if not attrs.has(cls):
        return ()
    out = []
    for field in attrs.fields(cls):
        if not field.init:
            continue
        default, required = _default(field)
        choices = getattr(field.validator, "options", None)
        kind = file_type(field.type)
        minimum = getattr(field.validator, "minimum", None)
        if minimum is not None:
            kind = kind.replace("int", f"int >= {minimum}", 1)
        if required:  # null is refused, so it is no value of the type
            kind = kind.removesuffix(" or null")
        out.append(
            LayerOption(
                name=field.name,
                type=kind,
                default=default,
                required=required,
                choices=tuple(choices) if choices is not None else None,
                doc=str(field.metadata.get("doc", "")),
            )
        )
    return tuple(out)
