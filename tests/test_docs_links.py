"""The docs hold together: every relative link and anchor in docs/*.md, README.md and the
examples' READMEs resolves, and the troubleshooting page quotes messages nnf really prints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(
    [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "examples").rglob("README.md")]
)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code (links there are examples)."""
    return CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link's text only
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(heading)
        name, n = base, 0
        while name in found:  # GitHub numbers repeated headings: name, name-1, name-2
            n += 1
            name = f"{base}-{n}"
        found.add(name)
    return found


def links(path: Path) -> list[str]:
    return LINK.findall(prose(path.read_text(encoding="utf-8")))


def broken_links(path: Path) -> list[str]:
    problems = []
    for target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        where = (path.parent / file_part).resolve() if file_part else path
        if not where.exists():
            problems.append(f"{target}: no such file")
        elif anchor and where.suffix == ".md" and anchor not in anchors(where):
            problems.append(f"{target}: no heading #{anchor} in {where.name}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path):
    assert broken_links(page) == []


def test_the_checker_catches_broken_links(tmp_path: Path):
    (tmp_path / "a.md").write_text("# Title here\n\n## Second `one`\n")
    page = tmp_path / "b.md"
    page.write_text(
        "[ok](a.md) [ok](a.md#second-one) [ok](#local) [web](https://example.org/x)\n"
        "[bad](missing.md) [bad](a.md#nowhere) ![bad](img.png)\n"
        "```\n[ignored](in-code.md)\n```\n`[ignored](inline.md)`\n\n## Local\n"
    )
    assert broken_links(page) == [
        "missing.md: no such file",
        "a.md#nowhere: no heading #nowhere in a.md",
        "img.png: no such file",
    ]


def test_docs_index_links_every_page():
    index = links(ROOT / "docs" / "index.md")
    for page in sorted((ROOT / "docs").glob("*.md")):
        if page.name != "index.md":
            assert page.name in index, f"docs/index.md does not link {page.name}"


def test_troubleshooting_quotes_real_messages():
    """Each '### "fragment"' heading is text nnf's source still contains."""
    text = (ROOT / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
    fragments = re.findall(r'^### "(.+)"$', text, re.M)
    assert len(fragments) >= 15
    source = "\n".join(
        p.read_text(encoding="utf-8")
        for folder in ("framework", "plugins")
        for p in (ROOT / folder).rglob("*.py")
    )
    missing = [f for f in fragments if f not in source]
    assert missing == []


SEED_TEXT = ROOT.parent / "shared" / "seed" / "000_ed0ffd7b9922c6aa.txt"


@pytest.mark.skipif(not SEED_TEXT.exists(), reason="needs the tutorial text in ../shared/seed")
def test_tutorial_page_quotes_the_tutorials_code():
    """Every block after 'The tutorial:' in docs/tutorial.md is the tutorial's code, in order
    (compared line by line without indentation, comments or blank lines)."""

    def statements(text: str) -> list[str]:
        lines = (re.sub(r"\s+#.*$", "", line).strip() for line in text.splitlines())
        return [ln for ln in lines if ln and not ln.startswith("#") and not ln.isdigit()]

    seed = statements(SEED_TEXT.read_text(encoding="utf-8"))
    page = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^The tutorial:\n\n```python\n(.*?)^```", page, re.S | re.M)
    assert len(blocks) == 8
    for block in blocks:
        wanted = statements(block)
        at = 0
        for line in wanted:
            assert line in seed[at:], f"not in the tutorial (in this order): {line}"
            at = seed.index(line, at) + 1
