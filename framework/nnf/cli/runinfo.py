"""What ``nnf train`` records in a model file besides weights: its resolved settings and class
names, kept as JSON in the file's string metadata under ``nnf.run``.

    {"config": {...resolved training settings...}, "class_names": ["0", "1", ...]}

``evaluate`` and ``predict`` read it back for the default data and the class names, and
``train --resume`` for the settings to continue with.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..model import Sequential

METADATA_KEY = "nnf.run"


def save_model(model: Sequential, path: Path, run: dict[str, Any] | None) -> None:
    """``nnf.io.save`` with the run record in the metadata (atomic, like every io.save)."""
    import json

    from .. import io
    from .output import json_default

    metadata = dict(getattr(model, "metadata", None) or {})
    if run is not None:
        metadata[METADATA_KEY] = json.dumps(run, sort_keys=True, default=json_default)
    path.parent.mkdir(parents=True, exist_ok=True)
    io.save(model, path, metadata=metadata)


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
