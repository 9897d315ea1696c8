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
Data rules: uint8 pixels are scaled to [0, 1] (other numbers are used as they are;
text or complex data is refused); samples are reshaped to the model's
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
    help="Write loss/accuracy curves to this image: .png, .pdf, .svg, ... (needs nnf[plot]).",
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
    from .checkpoints import earlier_best, fit_with_checkpoints, make_optimizer
    from .output import Console, check_writable, write_json_atomic
    from .train_config import model_and_config, parse_sets, portable_data, run_files

    console = Console(quiet=quiet, json_mode=as_json)
    if plot:
        from .plot import check_plot_path, require_matplotlib

        require_matplotlib()
        check_plot_path(Path(plot))
    # Flags are the last word: applied as overrides, so the final combination is validated.
    overrides = {**parse_sets(sets), **{k: v for k, v in flags.items() if v is not None}}
    if data is not None:
        overrides["data"] = data
    model, config, keep_optimizer = model_and_config(source, resume, overrides)

    files = run_files(output, model.name)
    with_val = config["validation_split"] > 0
    outputs = files.outputs(with_val) + ([Path(plot)] if plot else [])
    check_writable(outputs, force)
    if force and not with_val:
        files.best.unlink(missing_ok=True)  # a best model from an earlier run would mislead

    dataset = fitdata.load_dataset(
        config["data"], data_dir=data_dir, download=not no_download, progress=not quiet
    )
    loss = config["loss"] or fitdata.default_loss(model)
    config["loss"] = loss
    what = f"{config['data']!r}"
    x = fitdata.fit_inputs(dataset.x_train, model, what)
    y = fitdata.fit_labels(dataset.y_train, model, loss, dataset.num_classes, what)

    # Everything a user can get wrong is checked above or here, before any file is written.
    optimizer = make_optimizer(config, keep_optimizer)
    run = {
        "config": {**config, "data": portable_data(config["data"]), "source": str(source)},
        "class_names": list(dataset.class_names),
    }
    files.config.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(files.config, _config_record(config, source, model, dataset, files, with_val))
    best_loss = earlier_best(model, source, files) if with_val else float("inf")
    console.note(
        f"training {model.name} ({model.num_params:,} parameters) on {dataset.name}: "
        f"{len(x):,} samples, {config['epochs']} epochs, batch {config['batch_size']}, "
        f"{config['optimizer'] if not keep_optimizer else 'saved optimizer'}, loss {loss}, "
        f"seed {config['seed']}"
    )
    started = time.perf_counter()
    rows = fit_with_checkpoints(
        model, x, y, config, files, with_val, console, optimizer, run, best_loss
    )
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
