"""matplotlib without pyplot: figures drawn on their own Agg canvas, so making a picture never
selects a backend, opens a window or changes the host's rcParams (styles apply inside
``style()`` only)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..errors import ConfigError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

INSTALL_HINT = "pip install 'nnf-framework[plot]'"
DPI = 100
# Light, print-friendly defaults, applied with rc_context (restored afterwards).
STYLE: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
}


def require_matplotlib() -> None:
    """ImportError with the install command when the ``plot`` extra is missing."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise ImportError(f"drawing needs matplotlib: {INSTALL_HINT}")


@contextmanager
def style() -> Iterator[None]:
    require_matplotlib()
    import matplotlib

    with matplotlib.rc_context(cast(Any, STYLE)):  # the stubs want literal keys
        yield


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches on its own Agg canvas (no pyplot)."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_bytes(fig: Figure, fmt: str = "png") -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=DPI)
    return buffer.getvalue()


def image_formats() -> list[str]:
    """The file suffixes matplotlib can write (png, svg, pdf, ...)."""
    require_matplotlib()
    from matplotlib.backend_bases import FigureCanvasBase

    return sorted(FigureCanvasBase.get_supported_filetypes())


def figure_format(path: str | Path) -> str:
    """The format a path's suffix names; ConfigError naming the choices when none fits."""
    suffix = Path(path).suffix.lstrip(".").lower()
    kinds = image_formats()
    if suffix not in kinds:
        what = "." + suffix if suffix else "a suffix-less"
        raise ConfigError(
            f"{path}: cannot draw {what} file; end the name with one of "
            f"{', '.join('.' + k for k in kinds)}"
        )
    return suffix


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` in the format its suffix names, atomically."""
    from ..io.durable import atomic_write

    path = Path(path)
    data = figure_bytes(fig, figure_format(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, [data])
    return path
