"""The resolved configuration of ``nnf train`` and the files a run writes.

Precedence, lowest first: built-in defaults, the configuration saved in a model file (for
``MODEL.nnf`` inputs), the spec's ``[training]`` table, ``--set key=value``, dedicated flags.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .errors import USAGE, CommandError

if TYPE_CHECKING:
    from ..model import Sequential

DEFAULTS: dict[str, Any] = {
    "data": "mnist-small",
    "epochs": 5,
    "batch_size": 32,
    "loss": None,  # chosen from the model's last layer (nnf.losses.default_loss)
    "optimizer": "adam",
    "learning_rate": None,  # the optimizer's own default
    "optimizer_options": {},
    "seed": None,  # drawn at random, then recorded
    "validation_split": 0.0,
    "shuffle": True,
    "metrics": None,  # the task's (nnf.metrics.default_metrics)
    "early_stopping": None,
    "lr_schedule": None,
    "reduce_lr_on_plateau": None,
    "checkpoint": None,  # {monitor, mode} of best.nnf; default val_loss
}
ARCHITECTURE_KEYS = ("input_shape", "dtype", "name")


def parse_sets(assignments: Sequence[str]) -> dict[str, Any]:
    """``["epochs=3", "training.optimizer=sgd"]`` -> ``{"epochs": 3, "optimizer": "sgd"}``.

    ``training.X`` means ``X`` (as in ``nnf.spec.override``); the prefix is dropped here, once,
    so that every later check (``"epochs" in overrides``) sees one spelling.
    """
    from ..spec import parse_assignment

    pairs = (parse_assignment(a) for a in assignments)
    return {key.removeprefix("training."): value for key, value in pairs}


def training_from_sets(
    base: Mapping[str, Any], sets: Mapping[str, Any], source: str = "--set"
) -> dict[str, Any]:
    """Apply ``--set`` values to a training table (for model-file inputs, no architecture);
    errors are prefixed with ``source``."""
    from ..spec import check_training, override

    data: dict[str, Any] = {"training": dict(base)}
    for key, value in sets.items():
        if key.startswith("layers.") or key in ARCHITECTURE_KEYS:
            raise CommandError(
                f"--set {key} changes the architecture, which a trained model file cannot; "
                "use it with a spec",
                USAGE,
            )
        override(data, key, value, source="--set")
    return check_training(data["training"], source)


def resolve(tables: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge training tables (lowest precedence first) over the defaults; draw a seed if none."""
    config = dict(DEFAULTS)
    for table in tables:
        config.update({k: v for k, v in table.items() if k in DEFAULTS})
    if config["seed"] is None:
        config["seed"] = secrets.randbelow(2**31)
    if config["epochs"] < 0 or config["batch_size"] < 1:
        raise CommandError("--epochs must be >= 0 and --batch-size >= 1", USAGE)
    if not 0 <= config["validation_split"] < 1:
        raise CommandError(
            f"--val-split must be in [0, 1), got {config['validation_split']}", USAGE
        )
    return config


@attrs.frozen
class RunFiles:
    """Where a training run writes: the last and best models, its config and metrics."""

    last: Path
    best: Path
    config: Path
    metrics: Path

    def outputs(self, with_best: bool) -> list[Path]:
        return [self.last, *([self.best] if with_best else []), self.config, self.metrics]


def _files_in(folder: Path) -> RunFiles:
    return RunFiles(
        last=folder / "last.nnf",
        best=folder / "best.nnf",
        config=folder / "config.json",
        metrics=folder / "metrics.jsonl",
    )


def run_files(output: str | None, name: str, runs_dir: Path = Path("runs")) -> RunFiles:
    """Files for ``-o``: a folder (``last.nnf``, ``best.nnf``, ``config.json``,
    ``metrics.jsonl``) or a ``.nnf`` path (siblings ``NAME.best.nnf``, ``NAME.config.json``,
    ``NAME.metrics.jsonl``). Without ``-o``: a new folder ``runs/NAME``, ``runs/NAME-2``, ...
    """
    if output is not None:
        out = Path(output)
        if out.suffix.lower() == ".nnf":
            stem = out.with_suffix("")
            return RunFiles(
                last=out,
                best=Path(f"{stem}.best.nnf"),
                config=Path(f"{stem}.config.json"),
                metrics=Path(f"{stem}.metrics.jsonl"),
            )
        return _files_in(out)
    import re

    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "model"
    folder = runs_dir / name
    n = 1
    while folder.exists():
        n += 1
        folder = runs_dir / f"{name}-{n}"
    return _files_in(folder)


def resume_source(source: str, output: str | None, resume: bool) -> tuple[str, str | None, bool]:
    """``(model file, output, in place)`` for ``nnf train [--resume] SOURCE``.

    ``--resume RUN_DIR`` continues ``RUN_DIR/last.nnf``; without ``-o`` a resumed run writes
    into its own files (``in place``: they may be replaced without ``--force``).
    """
    path = Path(source)
    if path.is_dir():
        if not resume:
            raise CommandError(
                f"{source} is a folder; give a spec or model file, or continue the run in it "
                f"with --resume {source}",
                USAGE,
            )
        if not (path / "last.nnf").is_file():
            raise CommandError(f"{source} holds no last.nnf: not a run folder of nnf train", USAGE)
        path = path / "last.nnf"
    if not resume or output is not None:
        return str(path), output, False
    own = str(path.parent) if path.name == "last.nnf" else str(path)
    return str(path), own, True


def model_and_config(
    source: str, resume: bool, overrides: dict[str, Any]
) -> tuple[Sequential, dict[str, Any], bool]:
    """The model to train, the resolved settings, and whether to keep its saved optimizer."""
    from ..spec import TRAINING_KEYS
    from .models import is_spec, load_model, load_spec
    from .runinfo import read_run

    if is_spec(source):
        if resume:
            raise CommandError("--resume continues a saved model: give a .nnf file, not a spec")
        spec = load_spec(source, overrides=overrides)
        config = resolve([spec.training])
        config["total_epochs"] = config["epochs"]
        return spec.build(seed=config["seed"]), config, False
    model = load_model(source)
    saved = dict(read_run(model).get("config") or {})
    known = {k: v for k, v in saved.items() if k in TRAINING_KEYS and v is not None}
    saved_optimizer = str(known.get("optimizer", "")).lower()
    if str(overrides.get("optimizer", saved_optimizer)).lower() != saved_optimizer:
        # The saved options belong to the saved optimizer (Adam's beta1 means nothing to SGD).
        known.pop("optimizer_options", None)
    where = f"{source} (saved settings{' with your options' if overrides else ''})"
    table = training_from_sets(known, overrides, where)
    done = 0
    if resume:
        done = int(model.training_state.get("epoch", 0))
        if table.get("seed") is None and model.training_state.get("seed") is not None:
            table["seed"] = int(model.training_state["seed"])
        if "epochs" not in overrides:
            left = int(saved.get("total_epochs", done)) - done
            if left <= 0:
                raise CommandError(
                    f"{source} already finished its {done} epochs; pass --epochs N to train N more"
                )
            table["epochs"] = left
    else:
        if table.get("seed") is None and model.seed is not None:
            table["seed"] = int(model.seed)  # `nnf build --seed N` then train: reproducible
        model.training_state = {}  # fine-tuning starts a new count and a new optimizer
        model.optimizer = None
    config = resolve([table])
    config["total_epochs"] = done + config["epochs"]
    return model, config, resume and "optimizer" not in overrides


def portable_data(data: str) -> str:
    """A dataset name as is; a relative file or folder made absolute, so that ``evaluate``
    finds the training data from any folder."""
    from ..datasets import BUNDLED_NAME, REMOTES

    if data == BUNDLED_NAME or data in REMOTES or not Path(data).exists():
        return data
    return str(Path(data).resolve())
