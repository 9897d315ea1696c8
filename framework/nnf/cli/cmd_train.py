"""``nnf train``: train a spec or a saved model on a dataset, keeping every result on disk."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .errors import FAILURE, INTERRUPTED, CommandError
from .options import data_options, force_option, json_option, quiet_option
from .runinfo import save_model

if TYPE_CHECKING:
    from ..model import Sequential
    from .output import Console
    from .train_config import RunFiles

HELP = """Train SPEC (.toml/.json) or MODEL.nnf on a dataset and save the result.

\b
Examples:
  nnf train examples/specs/lenet5.toml
  nnf train examples/specs/mlp.toml --data fashion-mnist --epochs 3 -o runs/mlp
  nnf train runs/mlp/last.nnf --resume              # continue an interrupted run
  nnf train examples/specs/lenet5.toml --set optimizer=sgd --set learning_rate=0.05

\b
Writes (to -o OUT, a folder; default a new folder runs/NAME):
  last.nnf       the model after the last finished epoch (also after Ctrl-C or a NaN loss)
  best.nnf       the model with the lowest validation loss (with --val-split)
  config.json    the resolved configuration, seed included
  metrics.jsonl  one JSON line of metrics per epoch
With -o MODEL.nnf the others sit beside it (MODEL.best.nnf, MODEL.config.json, ...).

\b
Settings come from, lowest first: defaults, the model file's saved configuration,
the spec's [training] table, --set key=value, then the flags below.

\b
Data rules: uint8 pixels are scaled to [0, 1]; samples are reshaped to the model's
input shape when they hold as many values (28x28 images fit [1, 28, 28] and [784]).
Labels stay class indices for cross-entropy losses and are one-hot encoded otherwise.
Default loss: categorical_crossentropy after Softmax, binary_crossentropy after Sigmoid,
softmax_crossentropy on raw outputs. The test split, when the data has one, is scored at
the end and never used for training or model selection.
"""


@click.command(help=HELP, short_help="Train a spec or model on a dataset; save models and metrics.")
@click.argument("source", metavar="SPEC|MODEL", type=click.Path(dir_okay=False))
@data_options("Default: the spec's [training] data, else mnist-small.")
@click.option("-o", "--output", type=click.Path(), default=None, help="Output folder or .nnf file.")
@click.option("--epochs", type=click.IntRange(min=0), default=None, help="Epochs to run.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Samples per step.")
@click.option(
    "--lr",
    "learning_rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Learning rate.",
)
@click.option("--optimizer", type=click.Choice(["sgd", "adam"]), default=None, help="Optimizer.")
@click.option("--loss", default=None, help="Loss name, e.g. categorical_crossentropy or mse.")
@click.option("--seed", type=int, default=None, help="Seed for weights, shuffling and dropout.")
@click.option(
    "--val-split",
    "validation_split",
    type=click.FloatRange(0, 1, max_open=True),
    default=None,
    help="Fraction of the training data held out for validation.",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a spec value: epochs=3, optimizer_options={momentum=0.9}, "
    "layers.2.output_size=64. Repeatable.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue MODEL's training: its epoch count, optimizer state and settings.",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write loss/accuracy curves to this image (needs nnf[plot]).",
)
@force_option
@quiet_option
@json_option
def train(
    source: str,
    output: str | None,
    sets: tuple[str, ...],
    resume: bool,
    plot: str | None,
    force: bool,
    quiet: bool,
    as_json: bool,
    data: str | None,
    data_dir: str | None,
    no_download: bool,
    **flags: Any,
) -> None:
    from . import data as fitdata
    from .output import Console, check_writable, write_json_atomic
    from .train_config import parse_sets, run_files

    console = Console(quiet=quiet, json_mode=as_json)
    if plot:
        from .plot import require_matplotlib

        require_matplotlib()
    # Flags are the last word: applied as overrides, so the final combination is validated.
    overrides = {**parse_sets(sets), **{k: v for k, v in flags.items() if v is not None}}
    if data is not None:
        overrides["data"] = data
    model, config, keep_optimizer = _model_and_config(source, resume, overrides)

    files = run_files(output, model.name)
    with_val = config["validation_split"] > 0
    outputs = files.outputs(with_val) + ([Path(plot)] if plot else [])
    check_writable(outputs, force)

    dataset = fitdata.load_dataset(
        config["data"], data_dir=data_dir, download=not no_download, progress=not quiet
    )
    loss = config["loss"] or fitdata.default_loss(model)
    config["loss"] = loss
    what = f"{config['data']!r}"
    x = fitdata.fit_inputs(dataset.x_train, model, what)
    y = fitdata.fit_labels(dataset.y_train, model, loss, dataset.num_classes, what)

    run = {
        "config": {**config, "data": _portable(config["data"]), "source": str(source)},
        "class_names": list(dataset.class_names),
    }
    files.config.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(files.config, _config_record(config, source, model, dataset, files, with_val))
    console.note(
        f"training {model.name} ({model.num_params:,} parameters) on {dataset.name}: "
        f"{len(x):,} samples, {config['epochs']} epochs, batch {config['batch_size']}, "
        f"{config['optimizer'] if not keep_optimizer else 'saved optimizer'}, loss {loss}, "
        f"seed {config['seed']}"
    )
    started = time.perf_counter()
    rows = _run(model, x, y, config, files, with_val, console, keep_optimizer, run)
    seconds = time.perf_counter() - started

    test = None
    if dataset.has_test:
        xt = fitdata.fit_inputs(dataset.x_test, model, what)
        yt = fitdata.fit_labels(dataset.y_test, model, loss, dataset.num_classes, what)
        test = model.evaluate(xt, yt, loss=loss)
        test["samples"] = len(xt)
    if plot:
        from .plot import plot_history

        plot_history(rows, Path(plot))
    _report(console, model, rows, test, files, with_val, plot, seconds, dataset.name)


def _model_and_config(
    source: str, resume: bool, overrides: dict[str, Any]
) -> tuple[Sequential, dict[str, Any], bool]:
    """The model to train, the resolved settings, and whether to keep its saved optimizer."""
    from ..spec import TRAINING_KEYS
    from .models import is_spec, load_model, load_spec
    from .runinfo import read_run
    from .train_config import resolve, training_from_sets

    if is_spec(source):
        if resume:
            raise CommandError("--resume continues a saved model: give a .nnf file, not a spec")
        spec = load_spec(source, overrides=overrides)
        config = resolve([spec.training])
        config["total_epochs"] = config["epochs"]
        return spec.build(seed=config["seed"]), config, False
    model = load_model(source)
    saved = dict(read_run(model, source).get("config") or {})
    known = {k: v for k, v in saved.items() if k in TRAINING_KEYS and v is not None}
    table = training_from_sets(known, overrides)
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


def _portable(data: str) -> str:
    """A dataset name as is; a relative file or folder made absolute, so that ``evaluate``
    finds the training data from any folder."""
    from ..datasets import BUNDLED_NAME, REMOTES

    if data == BUNDLED_NAME or data in REMOTES or not Path(data).exists():
        return data
    return str(Path(data).resolve())


def _config_record(
    config: dict[str, Any],
    source: str,
    model: Sequential,
    dataset: Any,
    files: RunFiles,
    with_val: bool,
) -> dict[str, Any]:
    from .. import __version__

    return {
        "nnf_version": __version__,
        "source": str(source),
        "training": config,
        "dataset": {
            "name": dataset.name,
            "train_samples": len(dataset.x_train),
            "test_samples": len(dataset.x_test) if dataset.has_test else 0,
            "class_names": list(dataset.class_names),
        },
        "model": model.get_config(),
        "files": {
            "last": str(files.last),
            "best": str(files.best) if with_val else None,
            "metrics": str(files.metrics),
        },
    }


class _Checkpoints:
    """Saves ``last`` after every epoch (and ``best`` on a lower val_loss), appends metrics."""

    def __init__(
        self, files: RunFiles, with_val: bool, rows: list[dict[str, Any]], run: dict[str, Any]
    ) -> None:
        self.files, self.with_val, self.rows, self.run = files, with_val, rows, run
        self.best_loss = float("inf")
        self.epochs_done = 0

    def save_last(self, model: Sequential) -> None:
        save_model(model, self.files.last, self.run)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Sequential) -> None:
        from .output import write_jsonl_atomic

        self.rows.append(dict(logs))
        write_jsonl_atomic(self.files.metrics, self.rows)
        self.save_last(model)
        self.epochs_done = int(logs.get("epoch", epoch + 1))
        val = logs.get("val_loss")
        if self.with_val and val is not None and val < self.best_loss:
            self.best_loss = val
            save_model(model, self.files.best, self.run)


def _run(
    model: Sequential,
    x: Any,
    y: Any,
    config: dict[str, Any],
    files: RunFiles,
    with_val: bool,
    console: Console,
    keep_optimizer: bool,
    run: dict[str, Any],
) -> list[dict[str, Any]]:
    """Fit, saving as it goes; Ctrl-C exits 130 and a NaN loss exits 1, both keeping last.nnf."""
    from ..errors import TrainingError
    from ..optimizers import get_optimizer
    from .progress import Progress

    first = int(model.training_state.get("epoch", 0))
    rows = [dict(r) for r in model.training_state.get("history", [])]
    saver = _Checkpoints(files, with_val, rows, run)
    saver.epochs_done = first
    callbacks: list[Any] = [saver]
    progress = None
    if not console.quiet:
        progress = Progress(first + 1, first + config["epochs"], stream=console.err)
        callbacks.insert(0, progress)
    optimizer = None
    if not keep_optimizer:
        optimizer = get_optimizer(
            config["optimizer"],
            learning_rate=config["learning_rate"],
            **config["optimizer_options"],
        )
    saver.save_last(model)  # a valid last.nnf exists from the start: Ctrl-C never loses it
    try:
        model.fit(
            x,
            y,
            epochs=config["epochs"],
            batch_size=config["batch_size"],
            loss=config["loss"],
            optimizer=optimizer,
            learning_rate=config["learning_rate"] if keep_optimizer else None,
            validation_split=config["validation_split"],
            shuffle=config["shuffle"],
            seed=config["seed"],
            callbacks=callbacks,
            verbose=0,
        )
    except KeyboardInterrupt:
        if progress is not None:
            progress.close()
        raise CommandError(
            f"interrupted; the model after epoch {saver.epochs_done} is in {files.last} "
            f"(continue with: nnf train {files.last} --resume)",
            INTERRUPTED,
        ) from None
    except TrainingError as exc:
        if progress is not None:
            progress.close()
        raise CommandError(
            f"training stopped: {exc}; the last good model (after epoch {saver.epochs_done}) "
            f"is in {files.last}",
            FAILURE,
        ) from None
    return rows


def _report(
    console: Console,
    model: Sequential,
    rows: list[dict[str, Any]],
    test: dict[str, Any] | None,
    files: RunFiles,
    with_val: bool,
    plot: str | None,
    seconds: float,
    data_name: str,
) -> None:
    if console.json_mode:
        console.emit_json(
            {
                "model": str(files.last),
                "best": str(files.best) if with_val else None,
                "config": str(files.config),
                "metrics": str(files.metrics),
                "plot": plot,
                "seconds": round(seconds, 3),
                "epochs": rows,
                "test": test,
            }
        )
        return
    console.note(f"trained in {seconds:.1f}s")
    if test is not None:
        acc = test.get("accuracy")
        shown = f"test accuracy {acc:.2%}" if acc is not None else "test"
        console.result(
            f"{shown}  (loss {test['loss']:.4f}, {test['samples']:,} test samples of {data_name})"
        )
    elif rows:
        console.result("the data has no test split; last epoch: " + _last_metrics(rows[-1]))
    console.result(f"model written to {files.last}")
    if with_val:
        console.result(f"best model (lowest val_loss) written to {files.best}")
    if plot:
        console.result(f"curves written to {plot}")


def _last_metrics(row: dict[str, Any]) -> str:
    from .progress import format_metrics

    return format_metrics(row)
