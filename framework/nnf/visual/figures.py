"""The report's pictures, one function each, and ``draw_*`` helpers that write one to a file
(what ``nnf show`` calls). Every ``*_figure`` takes plain arrays and returns a matplotlib
Figure on its own canvas (``canvas.new_figure``), drawn inside ``canvas.style()``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, DataError
from .canvas import new_figure, save_figure, style
from .internals import as_images, feature_maps, first_kernels
from .mosaic import colour, grid_figure, title_gap

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..model import Sequential

MAX_FILTERS = 64
MAX_MAPS = 16  # channels shown per layer
SKIPPED_KEYS = ("epoch", "seconds")
RATE_KEYS = ("lr", "learning_rate")


# ------------------------------------------------------------------- curves
def curve_panels(rows: Sequence[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """Which metrics share a panel: ``[("loss", ["loss", "val_loss"]), ...]``, the learning
    rate last, bookkeeping (epoch, seconds) and non-numbers left out."""
    keys = [
        k
        for k in dict.fromkeys(k for r in rows for k in r)
        if k not in SKIPPED_KEYS
        and any(isinstance(r.get(k), int | float) and not isinstance(r.get(k), bool) for r in rows)
    ]
    panels: dict[str, list[str]] = {}
    for key in keys:
        base = "learning rate" if key in RATE_KEYS else key.removeprefix("val_")
        panels.setdefault(base, []).append(key)
    rate = panels.pop("learning rate", None)
    ordered = sorted(panels.items(), key=lambda item: item[0] != "loss")  # loss first
    return [*ordered, *([("learning rate", rate)] if rate else [])]


def curves_figure(rows: Sequence[dict[str, Any]]) -> Figure:
    """One panel per metric (train and validation together) against the epoch."""
    panels = curve_panels(rows)
    if not panels:
        raise DataError("no per-epoch metrics to draw: the run has no metrics and no history")
    cols = min(len(panels), 3)
    lines = math.ceil(len(panels) / cols)
    with style():
        from matplotlib.ticker import MaxNLocator

        fig = new_figure(3.2 * cols, 2.6 * lines)
        axes = fig.subplots(lines, cols, squeeze=False).ravel()
        for ax, (title, keys) in zip(axes, panels):
            for key in keys:
                points = [
                    (r.get("epoch", i + 1), r[key])
                    for i, r in enumerate(rows)
                    if isinstance(r.get(key), int | float)
                ]
                label = "validation" if key.startswith("val_") else "train"
                label = key if title == "learning rate" else label
                ax.plot(*zip(*points), marker="o", markersize=3, label=label)
            ax.set_title(title)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            if title == "learning rate" and min(min(r.get(k, 1) for r in rows) for k in keys) > 0:
                ax.set_yscale("log")
            ax.legend(frameon=False)
        for ax in axes[len(panels) :]:
            ax.set_visible(False)
    return fig


# -------------------------------------------------------- confusion matrix
def confusion_figure(matrix: np.ndarray, names: Sequence[str]) -> Figure:
    """Heat map of ``matrix[true, predicted]`` (row-normalised colours, counts written)."""
    k = len(matrix)
    totals = matrix.sum(axis=1, keepdims=True)
    rates = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    side = min(max(3.2, 0.38 * k + 1.4), 9.0)
    with style():
        fig = new_figure(side + 0.8, side)
        ax = fig.subplots()
        image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
        fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true class")
        ticks = list(range(k))
        ax.set_xticks(ticks, [str(n) for n in names], rotation=45, ha="right")
        ax.set_yticks(ticks, [str(n) for n in names])
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        if k <= 20:
            for i in range(k):
                for j in range(k):
                    if matrix[i, j]:
                        colour = "white" if rates[i, j] > 0.5 else "black"
                        ax.text(
                            j,
                            i,
                            str(matrix[i, j]),
                            ha="center",
                            va="center",
                            fontsize=7,
                            color=colour,
                        )
    return fig


# ------------------------------------------------------------ image grids
def mistakes_figure(
    images: np.ndarray,
    true: Sequence[str],
    predicted: Sequence[str],
    confidence: Sequence[float],
    cols: int = 8,
) -> Figure:
    """Samples with their true and predicted class and the probability given to the latter."""
    tiles = [colour(image, "picture") for image in images]
    titles = [f"true {t}\npred {p} {c:.0%}" for t, p, c in zip(true, predicted, confidence)]
    gap = title_gap(titles)
    with style():
        return grid_figure(
            [("", tiles)], min(cols, len(tiles)), titles, "#b00020", title_lines=2, gap=gap
        )


def filters_figure(kernels: np.ndarray) -> Figure:
    """Kernels ``(depth, C, k, k)``: one tile per kernel (RGB when C == 3), else a line per
    kernel with one tile per input channel (up to 8 channels)."""
    channels = kernels.shape[1]
    kernels = kernels[:MAX_FILTERS]
    with style():
        if channels in (1, 3):
            tiles = [
                colour(np.moveaxis(k, 0, -1), "picture")
                if channels == 3
                else colour(k[0], "signed")
                for k in kernels
            ]
            titles = [str(i) for i in range(len(tiles))]
            return grid_figure([("", tiles)], min(len(tiles), 8), titles, title_lines=1)
        shown = min(channels, 8)
        rows = [
            (str(i), [colour(k[c], "signed") for c in range(shown)]) for i, k in enumerate(kernels)
        ]
        return grid_figure(rows, shown, label_units=12)


def maps_figure(sample: np.ndarray | None, maps: Sequence[tuple[str, np.ndarray]]) -> Figure:
    """The input (when it is an image) then, for each layer, up to ``MAX_MAPS`` channels of its
    output ``(C, H, W)``, each channel on its own colour scale."""
    rows: list[tuple[str, list[np.ndarray]]] = []
    if sample is not None:
        rows.append(("input", [colour(sample, "picture")]))
    for label, block in maps:
        rows.append((label, [colour(channel, "map") for channel in block[:MAX_MAPS]]))
    cols = min(max(len(t) for _, t in rows), 8)
    with style():
        return grid_figure(rows, cols, label_units=62)


def dense_weights_figure(images: np.ndarray) -> Figure:
    """A Dense layer's weight rows as images: what raises each unit's output (red) or lowers it
    (blue)."""
    tiles = [colour(image, "signed") for image in images[:MAX_FILTERS]]
    titles = [str(i) for i in range(len(tiles))]
    with style():
        return grid_figure([("", tiles)], min(len(tiles), 8), titles, title_lines=1)


# -------------------------------------------------- one picture to a file
def layer_caption(layer: Any) -> str:
    shape = tuple(layer.out_shape or ())
    return f"{layer.name}\n{type(layer).__name__} {'x'.join(map(str, shape))}"


def draw_curves(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write the training curves of ``rows`` (``nnf.visual.read_history``) to an image file."""
    return save_figure(curves_figure(rows), path)


def draw_filters(model: Sequential, path: str | Path) -> Path:
    """Write the first convolution's kernels to an image file (ConfigError without one)."""
    found = first_kernels(model)
    if found is None:
        raise ConfigError(f"model {model.name!r} has no convolution: it has no filters to draw")
    _, kernels = found
    return save_figure(filters_figure(kernels), path)


def draw_feature_maps(model: Sequential, sample: np.ndarray, path: str | Path) -> Path:
    """Write one sample's feature maps through every convolution and pooling to a file."""
    maps = feature_maps(model, sample)
    if not maps:
        raise ConfigError(
            f"model {model.name!r} has no convolution or pooling layer: no feature maps to draw"
        )
    images = as_images(np.asarray(sample)[None], model.input_shape)
    shown = None if images is None else images[0]
    return save_figure(maps_figure(shown, [(layer_caption(layer), m) for layer, m in maps]), path)
