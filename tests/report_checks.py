"""Checks shared by the report tests: the page's sections and its inline images."""

from __future__ import annotations

import base64
import io
import re

import numpy as np

DATA_URI = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
SECTION = re.compile(r'<section id="([^"]+)">')


def sections(html: str) -> list[str]:
    return SECTION.findall(html)


def inline_pngs(html: str) -> list[bytes]:
    return [base64.b64decode(data, validate=True) for data in DATA_URI.findall(html)]


def decode_png(data: bytes) -> np.ndarray:
    """Pixels ``(H, W, channels)`` in [0, 1]; raises on anything that is not a whole PNG."""
    from matplotlib.image import imread

    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return np.asarray(imread(io.BytesIO(data), format="png"))


def assert_not_blank(pixels: np.ndarray, what: str = "image") -> None:
    """More than one colour, and a real share of non-background pixels."""
    rgb = pixels[..., :3] if pixels.ndim == 3 else pixels
    assert rgb.std() > 0.02, f"{what} is blank (std {rgb.std():.4f})"
    background = np.all(np.abs(rgb - rgb[0, 0]) < 1e-3, axis=-1) if rgb.ndim == 3 else None
    if background is not None:
        assert background.mean() < 0.98, f"{what} is almost all background"


def assert_external_free(html: str) -> None:
    """Nothing the page would fetch: no scripts, links, or non-data sources."""
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    for source in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert source.startswith(("data:", "#")), source
