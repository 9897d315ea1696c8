"""The report's HTML: one file, no scripts, no network. Images are PNG data URIs; the CSS is
inline, light, and keeps figures whole when printed."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from typing import Any

CSS = """
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f;
  background: #fff; max-width: 980px; margin: 2rem auto; padding: 0 1.2rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }
p.lead { color: #555; margin-top: 0; }
p.note { color: #666; font-style: italic; }
nav ol { columns: 2; padding-left: 1.2rem; }
pre { background: #f6f8fa; border: 1px solid #e3e6ea; border-radius: 6px; padding: .7rem;
  overflow-x: auto; font-size: 12.5px; line-height: 1.35; }
table { border-collapse: collapse; font-size: 13.5px; margin: .5rem 0; }
th, td { border-bottom: 1px solid #e5e5e5; padding: .25rem .7rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f6f8fa; }
figure { margin: .8rem 0; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { color: #555; font-size: 13px; margin-top: .3rem; }
.cards { display: flex; flex-wrap: wrap; gap: .6rem; margin: .6rem 0; }
.card { border: 1px solid #e3e6ea; border-radius: 6px; padding: .4rem .8rem; min-width: 7rem; }
.card b { display: block; font-size: 1.25rem; }
footer { color: #888; font-size: 12px; margin-top: 3rem; }
@media print {
  body { margin: 0; max-width: none; font-size: 11pt; }
  nav { display: none; }
  section, figure, table, pre { break-inside: avoid; }
  h2 { break-after: avoid; }
}
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def image(png: bytes, alt: str, caption: str = "") -> str:
    """A figure with the PNG inline as a data URI."""
    data = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{esc(alt)}">{cap}</figure>'


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def cards(items: Sequence[tuple[str, str]]) -> str:
    inner = "".join(f'<div class="card"><b>{esc(v)}</b>{esc(k)}</div>' for k, v in items)
    return f'<div class="cards">{inner}</div>'


def section(ident: str, title: str, body: str) -> str:
    return f'<section id="{esc(ident)}"><h2>{esc(title)}</h2>\n{body}\n</section>'


def document(title: str, lead: str, sections: Sequence[tuple[str, str, str]], footer: str) -> str:
    """The whole page: ``sections`` are (id, title, inner HTML)."""
    toc = "".join(f'<li><a href="#{esc(i)}">{esc(t)}</a></li>' for i, t, _ in sections)
    body = "\n".join(section(i, t, b) for i, t, b in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # No request may leave the file: scripts, fonts and remote images are all refused.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>\n"
        f'<h1>{esc(title)}</h1><p class="lead">{esc(lead)}</p>\n'
        f"<nav><ol>{toc}</ol></nav>\n{body}\n<footer>{esc(footer)}</footer>\n</body></html>\n"
    )
