"""Generate the layer-option tables of Markdown pages from the layers' own attrs fields.

A page marks each generated block with two comments; everything between them is rewritten:

    <!-- generated: options nnf.Dense.v1 -->            one layer's options table
    <!-- generated: summary nnf_layers layers.md -->  a package's layers, one row each, linked
    <!-- end generated -->                             to their sections (``## Dense``) on a page

Run ``python -m nnf.docgen docs/format.md docs/layers.md`` after changing a layer's fields
(``--check`` only reports stale pages, exit status 1). Plugin authors can run it on their own
pages with their own keys: it resolves keys through the registry.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from .layer import Layer
from .layer_options import LayerOption, layer_options
from .registry import GROUP, REGISTRY

BLOCK = re.compile(
    r"(?P<open><!-- generated: (?P<kind>options|summary) (?P<arg>[^ >]+)(?: (?P<page>[^ >]+))?"
    r" -->\n)"
    r"(?P<body>.*?)"
    r"(?P<close><!-- end generated -->)",
    re.S,
)


def package_keys(package: str) -> list[str]:
    """The keys registered in the ``nnf.layers`` group by classes of ``package``, sorted."""
    return sorted(
        {
            ep.name
            for ep in metadata.entry_points(group=GROUP)
            if ep.value.split(":")[0].split(".")[0] == package
        }
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _value(value: Any) -> str:
    return "`" + json.dumps(value, ensure_ascii=False) + "`"


def _type(option: LayerOption) -> str:
    if option.choices is None:
        return option.type
    return f"{option.type}: " + ", ".join(_value(c) for c in option.choices)


def options_table(cls: type[Layer]) -> str:
    """A Markdown table of ``cls``'s options: option, type in the file, default, meaning."""
    options = layer_options(cls)
    if not options:
        return "No options: `config` is `{}`.\n"
    rows = ["| option | type | default | meaning |", "|---|---|---|---|"]
    for o in options:
        default = "required" if o.required else _value(o.default)
        rows.append(f"| `{o.name}` | {_cell(_type(o))} | {default} | {_cell(o.doc)} |")
    return "\n".join(rows) + "\n"


def anchor(cls: type[Layer]) -> str:
    """The heading anchor of a layer's section in docs/layers.md (``## Dense``)."""
    return cls.__name__.lower()


def summary_table(package: str, page: str = "") -> str:
    """One row per layer of ``package``: key, options with their defaults, link to its section."""
    rows = ["| key | options (default) |", "|---|---|"]
    for key in package_keys(package):
        cls = REGISTRY.get(key)
        options = ", ".join(
            f"`{o.name}` ({'required' if o.required else _value(o.default)[1:-1]})"
            for o in layer_options(cls)
        )
        rows.append(f"| [`{key}`]({page}#{anchor(cls)}) | {_cell(options) or 'none'} |")
    return "\n".join(rows) + "\n"


def regenerate(text: str) -> str:
    """``text`` with every generated block rewritten from the installed layers."""

    def fill(match: re.Match[str]) -> str:
        kind, arg = match["kind"], match["arg"]
        if kind == "options":
            body = options_table(REGISTRY.get(arg))
        else:
            body = summary_table(arg, match["page"] or "")
        return match["open"] + body + match["close"]

    return BLOCK.sub(fill, text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nnf.docgen", description=__doc__)
    parser.add_argument("pages", nargs="+", type=Path, help="Markdown files to update")
    parser.add_argument("--check", action="store_true", help="only report stale pages")
    args = parser.parse_args(argv)
    stale = []
    for path in args.pages:
        text = path.read_text(encoding="utf-8")
        new = regenerate(text)
        if new != text:
            stale.append(str(path))
            if not args.check:
                path.write_text(new, encoding="utf-8")
    if stale:
        verb = "out of date" if args.check else "updated"
        print(f"{verb}: {', '.join(stale)}", file=sys.stderr)
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
