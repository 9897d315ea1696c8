"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

F = Callable[..., Any]


def quiet_option(f: F) -> F:
    return click.option(
        "-q", "--quiet", is_flag=True, help="Print only results and errors (no progress)."
    )(f)


def json_option(f: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print the result as one JSON document on stdout."
    )(f)


def force_option(f: F) -> F:
    return click.option("--force", is_flag=True, help="Overwrite existing output files.")(f)


def split_option(f: F) -> F:
    """``--split test|train``: the split of ``--data`` a command scores (``scored_split``)."""
    return click.option(
        "--split",
        type=click.Choice(["test", "train"]),
        default="test",
        show_default=True,
        help="Which split to score.",
    )(f)


def data_options(default_help: str) -> Callable[[F], F]:
    """``--data``, ``--data-dir``, ``--no-download``, ``--label-column`` and ``--resize``."""

    def decorate(f: F) -> F:
        f = resize_option(f)
        f = click.option(
            "--label-column",
            default=None,
            metavar="NAME|INDEX",
            help="The label column of a CSV file (default: the last).",
        )(f)
        f = click.option(
            "--no-download",
            is_flag=True,
            help="Never download: use local or cached files only.",
        )(f)
        f = click.option(
            "--data-dir",
            type=click.Path(file_okay=False),
            default=None,
            help="Folder holding the dataset's files (default: $NNF_DATA_DIR, then the cache).",
        )(f)
        f = click.option(
            "--data",
            "data",
            default=None,
            metavar="DATA",
            help="mnist-small (bundled), mnist, fashion-mnist, a folder (IDX files, "
            "x_train.npy + y_train.npy, or images in one subfolder per class), a .csv, an .npz, "
            f"or X.npy,Y.npy (see docs/data.md). {default_help}",
        )(f)
        return f

    return decorate


def resize_option(f: F) -> F:
    return click.option(
        "--resize",
        is_flag=True,
        help="Resize images to the model's input (height, width) instead of refusing them.",
    )(f)
