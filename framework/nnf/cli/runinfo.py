"""What ``nnf train`` records in a model file besides weights: its resolved settings and class
names, kept as JSON in the file's string metadata under ``nnf.run``.

    {"config": {...resolved training settings...}, "class_names": ["0", "1", ...]}

``evaluate`` and ``predict`` read it back for the default data (class names now live in
``nnf.class_names``, see ``nnf.labels``), and ``train --resume`` for the settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..model import Sequential

METADATA_KEY = "nnf.run"


def read_run(model: Sequential) -> dict[str, Any]:
    """The run record of a loaded model, or ``{}`` when ``nnf train`` did not write it."""
    raw = model.metadata.get(METADATA_KEY)
    if not raw:
        return {}
    import json

    try:
        run = json.loads(raw)
    except ValueError:
        return {}
    return run if isinstance(run, dict) else {}
