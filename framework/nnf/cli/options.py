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


def data_options(default_help: str) -> Callable[[F], F]:
    """``--data``, ``--data-dir`` and ``--no-download``."""

    def decorate(f: F) -> F:
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
            help="mnist-small (bundled), mnist, fashion-mnist, a folder of IDX files or an "
            f".npz file. {default_help}",
        )(f)
        return f

    return decorate
