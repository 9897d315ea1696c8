"""``nnf train``: train a spec or a saved model on a dataset, keeping every result on disk."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .options import data_options, force_option, json_option, quiet_option

if TYPE_CHECKING:
    from ..model import Sequential
    from .output import Console
    from .train_config import RunFiles

HELP = """Train SPEC (.toml/.json) or MODEL.nnf on a dataset and save the result.

\b
Examples:
  nnf train examples/specs/lenet5.toml
  nnf train examples/specs/mlp.toml --data fashion-mnist --epochs 3 -o runs/mlp
  nnf train --resume runs/mlp                        # continue an interrupted run in place
  nnf train runs/mlp/config.json -o runs/mlp-again   # the same run again, bit for bit
  nnf train examples/specs/lenet5.toml --set optimizer=sgd --set learning_rate=0.05
  nnf train spec.toml --data photos/ --resize        # a folder of images, one per class
  nnf train spec.toml --data table.csv --label-column species

\b
Writes (to -o OUT, a folder; default a new folder runs/NAME; --resume: the run's own):
  last.nnf       the model after the last finished epoch (also after Ctrl-C or a NaN loss)
  best.nnf       the best model by val_loss, or [training] checkpoint.monitor (--val-split)
  config.json    the run record: settings (seed included), data, model; trainable again
  metrics.jsonl  one JSON line of metrics per epoch
With -o MODEL.nnf the others sit beside it (MODEL.best.nnf, MODEL.config.json, ...).

\b
Settings come from, lowest first: defaults, the model file's saved configuration,
the spec's [training] table, --set key=value, then the flags below. Callbacks come
from [training]: early_stopping, lr_schedule, reduce_lr_on_plateau, checkpoint, metrics.

\b
Data and labels follow the same rules as Sequential.fit (docs/api.md): uint8 pixels
are scaled to [0, 1]; channels-last images are transposed to the model's (C, H, W);
class labels may be integers, integral floats, one-hot rows or names; float targets
train a regression (no accuracy). Default loss from the last layer: Softmax ->
categorical_crossentropy, one Sigmoid output -> binary_crossentropy, else mse. The test
split, when the data has one, is scored at the end and never used for model selection.
"""


@click.command(help=HELP, short_help="Train a spec or model on a dataset; save models and metrics.")
@click.argument("source", metavar="SPEC|MODEL|RUN_DIR", type=click.Path())
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
@click.option(
    "--optimizer",
    type=click.Choice(["sgd", "adam", "adamw", "rmsprop"]),
    default=None,
    help="Optimizer.",
)
@click.option("--loss", default=None, help="Loss name, e.g. categorical_crossentropy or mse.")
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=None,
    help="Seed for weights, shuffling and dropout (>= 0).",
)
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
    "early_stopping={patience=3}, layers.2.output_size=64. Repeatable.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue a run (RUN_DIR or its MODEL.nnf) in its own files: epoch count, optimizer "
    "state and settings.",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write loss/accuracy curves to this image: .png, .pdf, .svg, ... (needs the plot extra).",
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
    label_column: str | None,
    resize: bool,
    **flags: Any,
) -> None:
    from ..losses import default_loss
    from ..parallel import mpi
    from . import data as fitdata
    from .checkpoints import earlier_best, fit_with_callbacks, make_optimizer, run_callbacks
    from .output import Console, check_writable, write_json_atomic
    from .train_config import model_and_config, parse_sets, resume_source, run_files

    # Under mpiexec/srun with several ranks: train over them; rank 0 alone prints and writes.
    parallel = mpi.launched_backend()
    writer = parallel is None or mpi.launched_rank() == 0
    console = Console(quiet=quiet or not writer, json_mode=as_json and writer)
    if plot:
        from .plot import check_plot_path, require_matplotlib

        require_matplotlib()
        check_plot_path(Path(plot))
    source, output, in_place = resume_source(source, output, resume)
    # Flags are the last word: applied as overrides, so the final combination is validated.
    overrides = {**parse_sets(sets), **{k: v for k, v in flags.items() if v is not None}}
    if data is not None:
        overrides["data"] = data
    model, config, keep_optimizer = model_and_config(source, resume, overrides)

    files = run_files(output, model.name)
    with_val = config["validation_split"] > 0
    outputs = files.outputs(with_val) + ([Path(plot)] if plot else [])
    if writer:  # rank 0 checks; other ranks would see the files it has begun to write
        check_writable(outputs, force or in_place)

    dataset = fitdata.load_dataset(
        config["data"],
        model,
        data_dir=data_dir,
        download=not no_download,
        progress=not quiet,
        label=label_column,
        resize=resize,
    )
    loss = config["loss"] or fitdata.loss_name(model.loss or default_loss(model))
    config["loss"] = loss
    what = f"{config['data']!r}"
    x = fitdata.fit_inputs(dataset.x_train, model, what)
    targets = fitdata.fit_targets(dataset.y_train, model, loss, dataset, what)

    # Everything a user can get wrong is checked above or here, before any file is written.
    optimizer = make_optimizer(config, keep_optimizer)
    from ..callbacks import from_training
    from ..callbacks.base import check_monitors, resolve_mode

    check_monitors(from_training(config, str(source)), with_val)  # val_ needs --val-split
    run = _run_record(config, source, dataset, targets)
    check = config.get("checkpoint") or {}
    monitor = check.get("monitor", "val_loss")
    mode = resolve_mode(check.get("mode", "auto"), monitor)
    best = earlier_best(model, source, files, monitor, mode) if with_val else None
    lr0 = _initial_rate(config, optimizer)
    callbacks = run_callbacks(config, files, with_val, console, run, best, lr0, str(source))
    if writer:
        files.config.parent.mkdir(parents=True, exist_ok=True)
        record = _config_record(config, source, model, dataset, files, with_val)
        write_json_atomic(files.config, record)
    console.note(
        f"training {model.name} ({model.num_params:,} parameters) on {dataset.name}: "
        f"{len(x):,} samples, {config['epochs']} epochs, batch {config['batch_size']}, "
        f"{config['optimizer'] if not keep_optimizer else 'saved optimizer'}, loss {loss}, "
        f"seed {config['seed']}"
    )
    started = time.perf_counter()
    first = len(model.training_state.get("history", []))
    fit_with_callbacks(
        model, x, targets.y, config, callbacks, optimizer, targets.class_names, parallel
    )
    seconds = time.perf_counter() - started
    test = None
    if dataset.x_test is not None and dataset.y_test is not None:  # every rank its shard
        xt = fitdata.fit_inputs(dataset.x_test, model, what)
        yt = fitdata.fit_targets(dataset.y_test, model, loss, dataset, what)
        test = model.evaluate(xt, yt.y, loss=loss, metrics=config.get("metrics"), parallel=parallel)
        test["samples"] = len(xt)
    if not writer:
        return  # rank 0 plots and reports
    rows = [dict(r) for r in callbacks[1].rows]
    if plot:
        from .plot import plot_history

        plot_history(rows, Path(plot))
    _report(console, model, rows[first:], rows, test, files, plot, seconds, dataset.name)


def _initial_rate(config: dict[str, Any], optimizer: Any) -> float | None:
    """lr0 of a schedule: the configured rate, else the optimizer's default (the saved
    optimizer's rate has been scheduled already)."""
    if config.get("learning_rate") is not None:
        return float(config["learning_rate"])
    if optimizer is not None:
        return float(optimizer.learning_rate)
    from ..optimizers import get_optimizer

    return float(get_optimizer(config["optimizer"]).learning_rate)


def _run_record(config: dict[str, Any], source: str, dataset: Any, targets: Any) -> dict[str, str]:
    """The run record kept in each model file's metadata (``nnf.cli.runinfo``)."""
    import json

    from .output import json_default
    from .runinfo import METADATA_KEY
    from .train_config import portable_data

    names = list(targets.class_names or dataset.class_names or [])
    run = {
        "config": {**config, "data": portable_data(config["data"]), "source": str(source)},
        "class_names": names,
    }
    return {METADATA_KEY: json.dumps(run, sort_keys=True, default=json_default)}


def _config_record(
    config: dict[str, Any],
    source: str,
    model: Sequential,
    dataset: Any,
    files: RunFiles,
    with_val: bool,
) -> dict[str, Any]:
    """config.json: ``nnf train`` reads it back as a spec (``nnf.spec.spec_from_run``)."""
    from .. import __version__
    from .train_config import portable_data

    return {
        "nnf_version": __version__,
        "source": str(source),
        "training": {**config, "data": portable_data(config["data"])},
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


def _existing(path: Path) -> str | None:
    return str(path) if path.exists() else None


def _report(
    console: Console,
    model: Sequential,
    new_rows: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    test: dict[str, Any] | None,
    files: RunFiles,
    plot: str | None,
    seconds: float,
    data_name: str,
) -> None:
    # Only files that exist are reported (0 epochs write no best model).
    if console.json_mode:
        console.emit_json(
            {
                "model": _existing(files.last),
                "best": _existing(files.best),
                "config": _existing(files.config),
                "metrics": _existing(files.metrics),
                "plot": plot,
                "seconds": round(seconds, 3),
                "epochs": rows,
                "test": test,
            }
        )
        return
    from ..callbacks.progress import format_metrics

    console.note(f"trained in {seconds:.1f}s")
    if test is not None:
        shown = {k: v for k, v in test.items() if k != "samples"}
        acc = test.get("accuracy")
        head = f"test accuracy {acc:.2%}  " if acc is not None else "test "
        console.result(
            f"{head}({format_metrics(shown)}; {test['samples']:,} test samples of {data_name})"
        )
    elif new_rows:
        console.result("the data has no test split; last epoch: " + format_metrics(new_rows[-1]))
    console.result(f"model written to {files.last}")
    if files.best.exists():
        console.result(f"best model written to {files.best}")
    if plot:
        console.result(f"curves written to {plot}")
