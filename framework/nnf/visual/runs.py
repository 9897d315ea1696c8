"""Reading what ``nnf train`` left in a run folder: the model and the per-epoch metrics.

Tolerant by design: a report is still useful when the metrics are missing or a line is cut
short, so missing pieces come back empty and the report says so.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..model import Sequential

MODEL_NAMES = ("last.nnf", "best.nnf")  # what a run folder holds, preferred first
METRICS_NAME = "metrics.jsonl"


def run_model_path(run: str | Path, which: str = "last") -> Path:
    """The model file of a run folder (``last.nnf`` or ``best.nnf``), or ``run`` itself when
    it is a file. ``DataError`` when the folder holds no model."""
    path = Path(run)
    if not path.is_dir():
        if not path.exists():
            raise ConfigError(
                f"{path} does not exist: give a run folder (runs/NAME) or a .nnf file"
            )
        return path
    wanted = f"{which}.nnf"
    names = [wanted, *(n for n in MODEL_NAMES if n != wanted)]
    for name in names:
        if (path / name).is_file():
            return path / name
    raise ConfigError(
        f"{path} holds no model file ({' or '.join(MODEL_NAMES)}); train into it with "
        f"`nnf train SPEC -o {path}` or give a .nnf file"
    )


def metrics_path(model_path: Path) -> Path:
    """Where ``nnf train`` wrote the metrics of the run ``model_path`` belongs to."""
    if model_path.name in MODEL_NAMES:
        return model_path.with_name(METRICS_NAME)
    stem = model_path.name.removesuffix(".nnf").removesuffix(".best")
    return model_path.with_name(f"{stem}.{METRICS_NAME}")


def read_history(source: str | Path) -> list[dict[str, Any]]:
    """Per-epoch metric rows from a run folder, a ``metrics.jsonl`` file or a model file (its
    saved training history). Unreadable lines are skipped; ``[]`` when there is nothing."""
    path = Path(source)
    if path.is_dir():
        path = path / METRICS_NAME
    if path.suffix == ".jsonl" or path.name.endswith(METRICS_NAME):
        return _read_jsonl(path)
    if path.is_file():
        beside = _read_jsonl(metrics_path(path))
        if beside:
            return beside
        from .. import io

        return history_of(io.load(path))
    return []


def history_of(model: Sequential) -> list[dict[str, Any]]:
    """The per-epoch rows a model's training state keeps (every ``fit`` call's epochs)."""
    rows = model.training_state.get("history") or []
    return [dict(r) for r in rows if isinstance(r, dict)]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    rows = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line cut short by an interrupted write
        if isinstance(row, dict):
            rows.append(row)
    return rows


def load_run(run: str | Path, which: str = "last") -> tuple[Sequential, list[dict[str, Any]]]:
    """A run's model and metrics: ``load_run("runs/lenet5")`` -> (model, history rows)."""
    from .. import io

    path = run_model_path(run, which)
    model = io.load(path)
    return model, _read_jsonl(metrics_path(path)) or history_of(model)


def metric_names(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Every metric key in ``rows``, in first-seen order."""
    return list(dict.fromkeys(k for r in rows for k in r))
