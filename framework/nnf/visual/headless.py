"""``pyplot_or_png``: the tutorial's ``plt.show()`` on a machine without a display.

There pyplot falls back to its non-interactive Agg backend and ``show()`` draws to nowhere.
The proxy forwards everything to ``matplotlib.pyplot`` and turns ``show()`` into saving the
open figures to a PNG (and saying where), so the tutorial's plotting code runs unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

NON_INTERACTIVE = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}


class PyplotOrPng:
    """``matplotlib.pyplot`` whose ``show()`` saves to ``path`` when there is no display."""

    def __init__(self, path: str | Path) -> None:
        import matplotlib.pyplot  # ImportError without the plot extra, as the tutorial's import

        self._pyplot = matplotlib.pyplot
        self._path = Path(path)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pyplot, name)

    def show(self, *args: Any, **kwargs: Any) -> None:
        if self._pyplot.get_backend().lower() not in NON_INTERACTIVE:
            self._pyplot.show(*args, **kwargs)
            return
        numbers = self._pyplot.get_fignums()
        for i, number in enumerate(numbers):
            path = self._path if i == 0 else self._path.with_stem(f"{self._path.stem}-{i + 1}")
            self._pyplot.figure(number).savefig(path)
            self._pyplot.close(number)
            print(f"no display: plot saved to {path}")


def pyplot_or_png(path: str | Path) -> PyplotOrPng:
    """``plt = pyplot_or_png("xor.png")`` then the tutorial's ``plt.figure()``, ``plt.show()``."""
    return PyplotOrPng(path)
