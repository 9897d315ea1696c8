"""``nnf evaluate``: loss and the task's metrics on a dataset: accuracy, per-class precision,
recall and F1 and a confusion matrix for classification; MAE, RMSE and R² for regression."""

from __future__ import annotations

from typing import Any

import click

from .options import data_options, json_option, quiet_option, split_option


@click.command(short_help="Loss and metrics (per class, confusion matrix) on a dataset.")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@data_options("Default: the data the model was trained on, else mnist-small.")
@split_option
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="Samples per forward pass.",
)
@quiet_option
@json_option
def evaluate(
    model_path: str,
    data: str | None,
    data_dir: str | None,
    no_download: bool,
    label_column: str | None,
    resize: bool,
    split: str,
    batch_size: int,
    quiet: bool,
    as_json: bool,
) -> None:
    """Score MODEL on a dataset's test split (or --split train).

    \b
    Example:
      nnf evaluate runs/lenet5/last.nnf --data mnist-small
      nnf evaluate runs/lenet5/last.nnf --json > scores.json
    """
    from .. import metrics
    from ..losses import default_loss, get_loss
    from ..parallel import mpi
    from . import data as fitdata
    from .models import load_model
    from .output import Console
    from .runinfo import read_run

    # Under mpiexec/srun with several ranks: each predicts its shard; rank 0 alone reports.
    parallel = mpi.launched_backend()
    writer = parallel is None or mpi.launched_rank() == 0
    console = Console(quiet=quiet or not writer, json_mode=as_json)
    model = load_model(model_path)
    run = read_run(model)
    dataset, source, x_raw, y_raw = fitdata.scored_split(
        model,
        data,
        split,
        data_dir=data_dir,
        download=not no_download,
        progress=not console.quiet,
        label=label_column,
        resize=resize,
    )
    loss = fitdata.loss_name(model.loss or default_loss(model))
    what = f"{source!r}"
    x = fitdata.fit_inputs(x_raw, model, what)
    targets = fitdata.fit_targets(y_raw, model, loss, dataset, what)
    pred = model.predict(x, batch_size=batch_size, parallel=parallel)
    if not writer:
        return
    result: dict[str, Any] = {
        "model": model_path,
        "data": dataset.name,
        "split": split,
        "samples": len(x),
        "task": targets.task,
        "loss_function": loss,
        "loss": float(get_loss(loss)(targets.y, pred)),
    }
    if targets.labels is None:
        result.update(metrics.compute(targets, pred))
    else:
        names = model.class_names or run.get("class_names") or targets.class_names
        result.update(metrics.classification_report(targets.labels, pred, names))
    if as_json:
        console.emit_json(result)
    else:
        _print_text(console, result)


def _print_text(console: Any, r: dict[str, Any]) -> None:
    from .output import table

    head = f"{r['model']} on {r['data']} ({r['split']}, {r['samples']:,} samples): "
    loss = f"loss {r['loss']:.4f} ({r['loss_function']})"
    if r["task"] == "regression":
        console.result(f"{head}{loss}  mae {r['mae']:.4g}  rmse {r['rmse']:.4g}  r2 {r['r2']:.4f}")
        return
    macro = r["macro"]

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.2%}"

    console.result(
        f"{head}accuracy {r['accuracy']:.2%}  {loss}  macro precision {pct(macro['precision'])}"
        f"  recall {pct(macro['recall'])}  F1 {pct(macro['f1'])}"
    )
    console.result("")
    rows = [("class", "name", "samples", "accuracy", "precision", "recall", "F1")]
    for c in r["per_class"]:
        rows.append(
            (
                c["class"],
                c["name"],
                c["samples"],
                pct(c["accuracy"]),
                pct(c["precision"]),
                pct(c["recall"]),
                pct(c["f1"]),
            )
        )
    console.result(table(rows, right=(0, 2, 3, 4, 5, 6)))
    console.result("")
    console.result("confusion matrix (rows: true class, columns: predicted class)")
    k = len(r["confusion_matrix"])
    header = ["", *[str(i) for i in range(k)]]
    body = [[str(i), *map(str, row)] for i, row in enumerate(r["confusion_matrix"])]
    console.result(table([header, *body], right=tuple(range(k + 1))))
