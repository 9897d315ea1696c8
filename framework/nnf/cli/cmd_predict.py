"""``nnf predict``: classes and probabilities for the samples in a .npy or .npz file."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import click

from .options import json_option, quiet_option

if TYPE_CHECKING:
    import numpy as np

ARRAY_KEYS = ("x", "x_test", "images", "inputs", "data")


@click.command(short_help="Classes and probabilities for samples in a .npy/.npz file.")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False))
@click.option(
    "--key",
    default=None,
    help=f"Array to read from an .npz (default: the first of {', '.join(ARRAY_KEYS)}, "
    "or its only array).",
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="How many of the likeliest classes to print per sample.",
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
def predict(
    model_path: str,
    input_path: str,
    key: str | None,
    top: int,
    batch_size: int,
    quiet: bool,
    as_json: bool,
) -> None:
    """Predict the class of each sample in INPUT (.npy or .npz; one sample or a batch).

    Samples are prepared as for training: uint8 pixels are scaled to [0, 1] and reshaped
    to the model's input shape when they hold as many values. One line per sample:
    index, class (name) and probability. Outputs of a final Softmax or Sigmoid are shown
    as they are; raw outputs are turned into probabilities with softmax.

    \b
    Example:
      nnf predict runs/lenet5/last.nnf digits.npy --top 3
    """
    import numpy as np

    from . import data as fitdata
    from .models import load_model
    from .output import Console, require_file
    from .runinfo import read_run

    console = Console(quiet=quiet, json_mode=as_json)
    require_file(input_path, "input file")
    model = load_model(model_path)
    array = read_array(input_path, key)
    batch = as_batch(array, tuple(model.input_shape or ()))
    x = fitdata.fit_inputs(batch, model, f"{input_path!r}")
    scores = fitdata.class_scores(model.predict(x, batch_size=batch_size), model)
    names = read_run(model).get("class_names") or []
    results = []
    for i, row in enumerate(scores):
        order = np.argsort(-row, kind="stable")[:top]
        best = int(order[0])
        results.append(
            {
                "index": i,
                "class": best,
                "name": _name(names, best),
                "probability": float(row[best]),
                "top": [
                    {"class": int(c), "name": _name(names, int(c)), "probability": float(row[c])}
                    for c in order
                ],
                "probabilities": [float(p) for p in row],
            }
        )
    if as_json:
        console.emit_json({"model": model_path, "input": input_path, "predictions": results})
        return
    for r in results:
        shown = ", ".join(f"{t['name']} ({t['probability']:.3f})" for t in r["top"])
        console.result(f"{r['index']}: {shown}")


def _name(names: list[str], index: int) -> str:
    return str(names[index]) if index < len(names) else str(index)


def read_array(path: str, key: str | None = None) -> np.ndarray:
    """The array in a .npy file, or the chosen one of an .npz archive."""
    import zipfile

    import numpy as np

    from ..errors import DataError
    from .errors import CommandError

    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path} is not a readable .npy or .npz file ({exc})") from None
    if isinstance(loaded, np.ndarray):
        if key is not None:
            raise CommandError(f"--key applies to .npz files; {path} holds a single array")
        return loaded
    with loaded:
        names = list(loaded.files)
        if key is None:
            found = [k for k in ARRAY_KEYS if k in names]
            key = found[0] if found else (names[0] if len(names) == 1 else None)
        if key is None or key not in names:
            raise CommandError(
                f"{path} holds arrays {', '.join(names) or '(none)'}; choose one with --key"
            )
        return loaded[key]


def as_batch(array: Any, input_shape: tuple[int, ...]) -> np.ndarray:
    """One sample (as many values as the model takes) gets a batch axis; a batch is kept."""
    from ..errors import ShapeError

    if array.ndim == 0 or array.size == 0:
        raise ShapeError(f"the input holds no samples (shape {array.shape})")
    if array.size == math.prod(input_shape):
        return array.reshape((1, -1))
    if array.ndim == 1:
        raise ShapeError(
            f"the input is a flat array of {array.size} values, but one sample of the model "
            f"holds {math.prod(input_shape)} ({input_shape})"
        )
    return array
