"""Pictures of what a network learned, and the HTML report that gathers them.

``nnf.report(model, x, y, path="report.html")`` writes one self-contained page; the
``draw_*`` functions make the single figures ``nnf show`` writes. The numbers (scores,
feature maps, filters) come from NumPy only; the drawing needs matplotlib (the ``plot``
extra), imported when a figure is first made and used without pyplot, so the host's
matplotlib settings and backend are left as they were.
"""

from __future__ import annotations

from .figures import draw_curves, draw_feature_maps, draw_filters
from .report import report
from .runs import load_run, read_history

__all__ = ["draw_curves", "draw_feature_maps", "draw_filters", "load_run", "read_history", "report"]
