"""The command line's data: ``--data`` loaded for a model, with the library's rules.

Inputs follow ``nnf.inputs`` (uint8 scaled to [0, 1], channels-last transposed, flat
single-channel rows reshaped), targets ``nnf.labels``, the default loss
``nnf.losses.default_loss``: the same rules as ``Sequential.fit``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError

if TYPE_CHECKING:
    from ..datasets import Dataset
    from ..labels import Targets
    from ..model import Sequential


def load_dataset(
    source: str,
    model: Sequential | None = None,
    data_dir: str | None = None,
    download: bool = True,
    progress: bool = True,
    label: str | None = None,
    resize: bool = False,
) -> Dataset:
    """The dataset named by ``--data`` (see ``nnf.datasets.load``); image folders are decoded
    with the model's channel count, and resized to its input with ``resize``."""
    from .. import datasets

    channels, size = None, None
    shape = tuple(model.input_shape or ()) if model is not None else ()
    if len(shape) == 3 and shape[0] in (1, 3):
        channels = shape[0]
        if resize:
            size = (shape[1], shape[2])
    return datasets.load(
        source,
        data_dir=data_dir,
        download=download,
        progress=progress,
        label=label,
        channels=channels,
        image_size=size,
    )


def scored_split(
    model: Sequential,
    data: str | None,
    split: str,
    data_dir: str | None = None,
    download: bool = True,
    progress: bool = True,
    label: str | None = None,
    resize: bool = False,
) -> tuple[Dataset, str, Any, Any]:
    """``(dataset, source, x, y)``: the ``split`` ("test" or "train") that ``nnf evaluate``
    and ``nnf report`` score ``model`` on: ``--data``, else the data its run trained on (saved
    in the model), else the bundled subset."""
    from .errors import CommandError
    from .runinfo import read_run

    source = data or (read_run(model).get("config") or {}).get("data") or "mnist-small"
    dataset = load_dataset(source, model, data_dir, download, progress, label, resize)
    x, y = (
        (dataset.x_test, dataset.y_test) if split == "test" else (dataset.x_train, dataset.y_train)
    )
    if x is None or y is None:
        fix = "; use --split train" if split == "test" else ""
        raise CommandError(f"{dataset.name} has no {split} split{fix}")
    return dataset, source, x, y


def fit_inputs(x: Any, model: Sequential, what: str = "the data") -> np.ndarray:
    """``x`` prepared by ``nnf.inputs.prepare_inputs``; non-numeric data is a usage error."""
    from ..inputs import prepare_inputs

    try:
        return prepare_inputs(x, model, what)
    except DataError as exc:
        from .errors import DataUsageError

        raise DataUsageError(str(exc)) from None


def fit_targets(
    y: Any, model: Sequential, loss: Any, dataset: Dataset, what: str = "the data"
) -> Targets:
    """``y`` encoded by ``nnf.labels.encode_targets`` with the dataset's class names."""
    from ..labels import encode_targets

    names = dataset.class_names or None
    if names is not None and np.asarray(y).dtype.kind == "f":
        names = None  # float targets: no classes
    return encode_targets(y, model, loss, class_names=names, what=what)


def loss_name(loss: Any) -> str:
    """The registered name of a loss object or name."""
    return str(getattr(loss, "name", loss))
