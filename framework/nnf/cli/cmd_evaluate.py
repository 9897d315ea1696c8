"""``nnf evaluate``: loss, accuracy, per-class accuracy and a confusion matrix on a dataset."""

from __future__ import annotations

from typing import Any

import click

from .options import data_options, json_option, quiet_option


@click.command(short_help="Loss, accuracy, per-class accuracy and confusion matrix.")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@data_options("Default: the data the model was trained on, else mnist-small.")
@click.option(
    "--split",
    type=click.Choice(["test", "train"]),
    default="test",
    show_default=True,
    help="Which split to score.",
)
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
    import numpy as np

    from . import data as fitdata
    from .errors import CommandError
    from .models import load_model
    from .output import Console
    from .runinfo import read_run

    console = Console(quiet=quiet, json_mode=as_json)
    model = load_model(model_path)
    saved = read_run(model).get("config") or {}
    source = data or saved.get("data") or "mnist-small"
    dataset = fitdata.load_dataset(
        source, data_dir=data_dir, download=not no_download, progress=not quiet
    )
    if split == "test" and not dataset.has_test:
        raise CommandError(f"{dataset.name} has no test split; use --split train")
    x_raw, y_raw = (
        (dataset.x_test, dataset.y_test) if split == "test" else (dataset.x_train, dataset.y_train)
    )
    loss = fitdata.loss_name(model.loss) if model.loss is not None else fitdata.default_loss(model)
    what = f"{source!r}"
    x = fitdata.fit_inputs(x_raw, model, what)
    y = fitdata.fit_labels(y_raw, model, loss, dataset.num_classes, what)
    pred = model.predict(x, batch_size=batch_size)
    from ..losses import get_loss

    loss_value = float(get_loss(loss)(y, pred))
    scores = fitdata.class_scores(pred, model)
    predicted = scores.argmax(axis=1)
    labels = np.asarray(y_raw).astype(np.int64)
    k = max(dataset.num_classes, scores.shape[1])
    matrix = fitdata.confusion(labels, predicted, k)
    names = list(dataset.class_names) + [str(i) for i in range(dataset.num_classes, k)]
    counts = matrix.sum(axis=1)
    per_class = [
        {
            "class": i,
            "name": names[i],
            "samples": int(counts[i]),
            "accuracy": float(matrix[i, i] / counts[i]) if counts[i] else None,
        }
        for i in range(k)
    ]
    result = {
        "model": model_path,
        "data": dataset.name,
        "split": split,
        "samples": len(x),
        "loss_function": loss,
        "loss": loss_value,
        "accuracy": float(np.mean(predicted == labels)),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
        "class_names": names,
    }
    if as_json:
        console.emit_json(result)
    else:
        _print_text(console, result)


def _print_text(console: Any, r: dict[str, Any]) -> None:
    from .output import table

    console.result(
        f"{r['model']} on {r['data']} ({r['split']}, {r['samples']:,} samples): "
        f"accuracy {r['accuracy']:.2%}  loss {r['loss']:.4f} ({r['loss_function']})"
    )
    console.result("")
    rows = [("class", "name", "samples", "accuracy")]
    for c in r["per_class"]:
        acc = "-" if c["accuracy"] is None else f"{c['accuracy']:.2%}"
        rows.append((c["class"], c["name"], c["samples"], acc))
    console.result(table(rows, right=(0, 2, 3)))
    console.result("")
    console.result("confusion matrix (rows: true class, columns: predicted class)")
    k = len(r["confusion_matrix"])
    header = ["", *[str(i) for i in range(k)]]
    body = [[str(i), *map(str, row)] for i, row in enumerate(r["confusion_matrix"])]
    console.result(table([header, *body], right=tuple(range(k + 1))))
