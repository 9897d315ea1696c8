"""Grids of small images drawn as one picture: each tile coloured in NumPy and placed in one
RGB array, shown with a single ``imshow``. A figure of 80 tiles costs one image instead of
80 matplotlib axes (seconds on a busy machine), and every tile keeps whole pixels."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .canvas import DPI, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TILE = 28  # units per tile side (a tile is resized to it, nearest neighbour)
GAP = 3  # units between tiles
PX = 3  # pixels per unit in the PNG: tiles are 84 px wide
UNIT = PX / DPI  # inches per unit


def title_gap(titles: Sequence[str], points: float = 7) -> int:
    """The column gap (units) that keeps titles of ``points``-sized text from overlapping."""
    longest = max((len(line) for t in titles for line in t.splitlines()), default=0)
    needed = math.ceil(longest * points * 0.55 / 72 / UNIT) + 2  # ~0.55 em per character
    return max(GAP, needed - TILE)


def resize(image: np.ndarray, side: int = TILE) -> np.ndarray:
    """Nearest-neighbour resize of the first two axes to ``side`` x ``side``."""
    h, w = image.shape[:2]
    rows = np.arange(side) * h // side
    cols = np.arange(side) * w // side
    return image[rows][:, cols]


def _scaled(image: np.ndarray) -> np.ndarray:
    low, high = float(np.min(image)), float(np.max(image))
    return (image - low) / (high - low) if high > low else np.zeros_like(image, dtype=np.float64)


def colour(image: np.ndarray, kind: str) -> np.ndarray:
    """An image ``(H, W)`` (or RGB ``(H, W, 3)``) as RGB in [0, 1], each on its own scale:
    ``picture`` dark ink on white (min-max), ``signed`` red/blue around a white zero,
    ``map`` viridis (min-max)."""
    import matplotlib

    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3:
        return _scaled(image)
    if kind == "picture":
        grey = 1.0 - _scaled(image)
        return np.repeat(grey[..., None], 3, axis=-1)
    if kind == "signed":
        limit = float(np.max(np.abs(image))) or 1.0
        rgba = matplotlib.colormaps["RdBu_r"](0.5 + 0.5 * image / limit)
        return np.asarray(rgba[..., :3])
    return np.asarray(matplotlib.colormaps["viridis"](_scaled(image))[..., :3])


def grid_figure(
    rows: Sequence[tuple[str, Sequence[np.ndarray]]],
    cols: int,
    titles: Sequence[str] | None = None,
    title_colour: str = "black",
    label_units: int = 0,
    title_lines: int = 0,
    gap: int = GAP,
) -> Figure:
    """Tiles (RGB arrays from ``colour``) in blocks: each block ``(label, tiles)`` starts a new
    line, wraps after ``cols`` tiles, and has its label on the left (``label_units`` wide).
    ``titles`` (one per tile, in order) go above the tiles, in ``title_lines`` lines; ``gap``
    units separate the columns (wide titles need more)."""
    head = 5 * title_lines  # units of text above each tile
    line_h = TILE + GAP + head
    lines = [math.ceil(len(tiles) / cols) or 1 for _, tiles in rows]
    width = label_units + cols * (TILE + gap) + gap
    height = sum(lines) * line_h + GAP
    canvas = np.ones((height * PX, width * PX, 3))
    fig = new_figure(width * UNIT, height * UNIT)
    fig.set_layout_engine("none")
    ax = fig.add_axes((0, 0, 1, 1))
    placed: list[tuple[float, float, str]] = []
    labels: list[tuple[float, float, str]] = []
    line, index = 0, 0
    for (label, tiles), count in zip(rows, lines):
        if label:
            labels.append((label_units - 2, (line + count / 2) * line_h + head / 2, label))
        for i, tile in enumerate(tiles):
            top = (line + i // cols) * line_h + head + GAP
            left = label_units + gap + (i % cols) * (TILE + gap)
            block = resize(tile, TILE * PX)
            canvas[top * PX : (top + TILE) * PX, left * PX : (left + TILE) * PX] = block
            if titles is not None and index < len(titles):
                placed.append((left + TILE / 2, top - 1, titles[index]))
            index += 1
        line += count
    ax.imshow(canvas, interpolation="nearest", extent=(0, width, height, 0))
    ax.set_axis_off()
    for x, y, text in placed:
        ax.text(x, y, text, ha="center", va="bottom", fontsize=7, color=title_colour)
    for x, y, text in labels:
        ax.text(x, y, text, ha="right", va="center", fontsize=8)
    return fig
