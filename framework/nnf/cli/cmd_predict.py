"""``nnf predict``: classes and probabilities for images, image folders and .npy/.npz arrays."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .options import json_option, quiet_option, resize_option

if TYPE_CHECKING:
    import numpy as np

ARRAY_KEYS = ("x", "x_test", "images", "inputs", "data")


@click.command(short_help="Classes and probabilities for images or samples in .npy/.npz files.")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True, type=click.Path())
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
@resize_option
@quiet_option
@json_option
def predict(
    model_path: str,
    inputs: tuple[str, ...],
    key: str | None,
    top: int,
    batch_size: int,
    resize: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Predict the class of each sample in INPUT: image files (PNG, JPEG, BMP, ...), folders
    of images, or .npy/.npz arrays (one sample or a batch).

    Samples are prepared as for training: images are decoded to the model's channels
    (grayscale or RGB), uint8 pixels are scaled to [0, 1], channels-last arrays are
    transposed. One line per sample: its file (or index), class (name) and probability.
    Outputs that are probabilities are shown as they are; raw outputs go through softmax.

    \b
    Examples:
      nnf predict runs/lenet5/last.nnf examples/own_data/digits/ --top 3
      nnf predict runs/lenet5/last.nnf seven.png
      nnf predict runs/lenet5/last.nnf samples.npy
    """
    import numpy as np

    from ..metrics import class_scores
    from ..parallel import mpi
    from . import data as fitdata
    from .models import load_model
    from .output import Console
    from .runinfo import read_run

    # Under mpiexec/srun with several ranks: each predicts its shard; rank 0 alone prints.
    parallel = mpi.launched_backend()
    writer = parallel is None or mpi.launched_rank() == 0
    console = Console(quiet=quiet or not writer, json_mode=as_json)
    model = load_model(model_path)
    batches: list[np.ndarray] = []
    sources: list[str] = []
    for path in inputs:
        x, names = read_input(path, key, model, resize)
        batches.append(fitdata.fit_inputs(x, model, f"{path!r}"))
        first = len(sources)  # arrays: samples are shown by their index, as before
        sources += names or [str(first + i) for i in range(len(batches[-1]))]
    x = np.concatenate(batches)
    scores = class_scores(model.predict(x, batch_size=batch_size, parallel=parallel))
    if not writer:
        return
    names = list(model.class_names or read_run(model).get("class_names") or [])
    results: list[dict[str, Any]] = []
    for i, row in enumerate(scores):
        order = np.argsort(-row, kind="stable")[:top]
        best = int(order[0])
        results.append(
            {
                "index": i,
                "input": sources[i],
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
        console.emit_json({"model": model_path, "inputs": list(inputs), "predictions": results})
        return
    for r in results:
        shown = ", ".join(f"{t['name']} ({t['probability']:.3f})" for t in r["top"])
        console.result(f"{r['input']}: {shown}")


def read_input(
    path: str, key: str | None, model: Any, resize: bool
) -> tuple[np.ndarray, list[str] | None]:
    """The samples in ``path`` and, for images, their file names (else None)."""
    from pathlib import Path

    from ..datasets.images import IMAGE_SUFFIXES, read_images
    from .errors import USAGE, CommandError

    p = Path(path)
    if not p.exists():
        raise CommandError(f"input {path!r} does not exist", USAGE)
    shape = tuple(model.input_shape or ())
    channels = shape[0] if len(shape) == 3 and shape[0] in (1, 3) else None
    size = (shape[1], shape[2]) if resize and len(shape) == 3 else None
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise CommandError(f"{path} holds no image files (PNG, JPEG, BMP, ...)", USAGE)
        return read_images(files, channels, size), [str(f) for f in files]
    if p.suffix.lower() in IMAGE_SUFFIXES:
        return read_images([p], channels, size), [path]
    return read_array(path, key), None


def _name(names: list[str], index: int) -> str:
    return str(names[index]) if index < len(names) else str(index)


def read_array(path: str, key: str | None = None) -> np.ndarray:
    """The array in a .npy file, or the chosen one of an .npz archive."""
    import zipfile

    import numpy as np

    from ..errors import DataError
    from .errors import CommandError

    with open(path, "rb") as f:
        magic = f.read(6)
    if magic != b"\x93NUMPY" and magic[:2] != b"PK":  # else np.load would talk of pickles
        raise DataError(
            f"{path} is not an image, .npy or .npz file; give PNG/JPEG/BMP images, a folder "
            "of them, or NumPy arrays"
        )
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
