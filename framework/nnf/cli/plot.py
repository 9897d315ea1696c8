"""``--plot``: loss and accuracy curves drawn with matplotlib (the plot extra)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import USAGE, CommandError

INSTALL_HINT = "pip install 'nnf-framework[plot]'"


def require_matplotlib() -> None:
    """Fail before training, not after, when matplotlib is missing."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise CommandError(f"--plot needs matplotlib: {INSTALL_HINT}", USAGE)


def check_plot_path(path: Path) -> None:
    """Fail before training, not after, on a file type matplotlib cannot write."""
    from matplotlib.backend_bases import FigureCanvasBase

    kinds = sorted(FigureCanvasBase.get_supported_filetypes())
    suffix = path.suffix.lstrip(".").lower()
    if suffix not in kinds:
        raise CommandError(
            f"--plot {path}: cannot draw a {'.' + suffix if suffix else 'suffix-less'} file; "
            f"end the name with one of {', '.join('.' + k for k in kinds)}",
            USAGE,
        )


def plot_history(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Write loss (left) and accuracy (right; mae for a regression) per epoch to an image,
    atomically."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    second = next((m for m in ("accuracy", "mae") if any(m in r for r in rows)), None)
    fig, axes = plt.subplots(1, 2 if second else 1, figsize=(10 if second else 5, 4))
    axes = list(axes) if second else [axes]
    panels = [("loss", axes[0])] + ([(second, axes[1])] if second else [])
    for metric, ax in panels:
        for key, label in ((metric, "train"), (f"val_{metric}", "validation")):
            points = [(r["epoch"], r[key]) for r in rows if key in r]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_xticks(epochs if len(epochs) <= 20 else ax.get_xticks())
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format=path.suffix.lstrip(".").lower())  # checked by check_plot_path
    finally:
        plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())


def write_bytes_atomic(path: Path, data: bytes) -> None:
    from ..io.durable import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, [data])
