"""The README's main job, then ``nnf report``, rendered in a real browser (headless Chromium).

Checks: the page loads without a single console message (it has no scripts, so any message
is an error: a blocked request, a broken image), every section is in the rendered DOM,
every image decodes in the browser and, decoded again here, is not blank; the page prints to a
few PDF pages. A screenshot and the PDF are kept under the test's temporary folder (pytest
keeps the last three runs' folders).

Needs Debian's ``chromium`` (``apt-get install -y chromium``; ``.ci/run`` installs it) or
another Chromium named by ``$NNF_CHROMIUM``; skips saying so when there is none.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from report_checks import (
    assert_external_free,
    assert_not_blank,
    decode_png,
    inline_pngs,
    sections,
)

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "specs" / "lenet5.toml"
SECTIONS = ["summary", "curves", "metrics", "mistakes", "filters", "maps"]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=5000",  # run the page to its load event, then stop
]
CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\]? (.*)")
# Appended to a copy of the page: records, at load, what every image decoded to.
PROBE = """<script>window.addEventListener("load", () => { document.title = "probe:" +
JSON.stringify([...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight]));
});</script>"""


def chromium() -> str | None:
    named = os.environ.get("NNF_CHROMIUM")
    if named:
        return named
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


BROWSER = chromium()
needs_chromium = pytest.mark.skipif(
    BROWSER is None,
    reason="needs headless Chromium: apt-get install -y chromium (or set NNF_CHROMIUM); "
    ".ci/run installs it",
)


def browse(page: Path, profile: Path, *extra: str) -> tuple[str, list[str]]:
    """Run Chromium on ``page``: (stdout, the console messages it logged)."""
    cmd = [str(BROWSER), *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    messages = [m.group(1) for m in map(CONSOLE.search, done.stderr.splitlines()) if m]
    return done.stdout, messages


@needs_chromium
def test_the_console_capture_sees_errors(tmp_path):
    """The harness itself: a page that logs an error must be caught (else the test is blind)."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><script>console.error("deliberate-error")</script>')
    _, messages = browse(page, tmp_path / "profile", "--dump-dom")
    assert any("deliberate-error" in m for m in messages), messages


@needs_chromium
@pytest.mark.slow
def test_lenet5_report_renders_in_chromium(tmp_path):
    nnf = [str(Path(sys.executable).with_name("nnf"))]  # the installed command, as a user runs it
    env = {**os.environ, "NNF_CACHE_DIR": str(tmp_path / "cache")}
    run = tmp_path / "runs" / "lenet5"
    train = [*nnf, "train", str(SPEC), "--epochs", "2", "-o", str(run), "-q"]
    subprocess.run(train, check=True, cwd=tmp_path, env=env, capture_output=True, timeout=600)
    report = tmp_path / "report.html"
    made = subprocess.run(
        [*nnf, "report", str(run), "-o", str(report)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert made.returncode == 0, made.stderr
    assert "report written to" in made.stdout
    html = report.read_text()
    assert sections(html) == SECTIONS
    assert_external_free(html)
    pngs = inline_pngs(html)
    assert len(pngs) == 5  # curves, confusion matrix, mistakes, filters, maps
    for i, png in enumerate(pngs):
        assert_not_blank(decode_png(png), f"image {i}")

    # The page as it is: no console message at all, every section in the rendered DOM.
    shot = tmp_path / "report.png"
    dom, messages = browse(
        report,
        tmp_path / "profile",
        "--dump-dom",
        f"--screenshot={shot}",
        "--window-size=1100,6000",
    )
    assert messages == []
    assert sections(dom) == SECTIONS
    assert_not_blank(decode_png(shot.read_bytes()), "screenshot")

    # A copy with a probe script (and no CSP, which would block it): every image decoded.
    probe = tmp_path / "probe.html"
    probe.write_text(
        re.sub(r"<meta http-equiv[^>]*>", "", html).replace("</body>", PROBE + "</body>")
    )
    dom, messages = browse(probe, tmp_path / "profile", "--dump-dom")
    assert messages == []
    found = re.search(r"<title>probe:(.*?)</title>", dom)
    assert found, dom[:500]
    decoded = json.loads(found.group(1))
    assert len(decoded) == 5
    for complete, width, height in decoded:
        assert complete and width > 100 and height > 100
    # Printed (Chromium's print to PDF): a PDF of a handful of pages (the print CSS keeps each
    # figure whole and hides the table of contents; 5 pages for LeNet-5's report).
    pdf = tmp_path / "report.pdf"
    browse(report, tmp_path / "profile", f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))
    assert pdf.read_bytes().startswith(b"%PDF") and 2 <= pages <= 8, pages
    print(f"screenshot kept at {shot}, printed copy at {pdf}")
