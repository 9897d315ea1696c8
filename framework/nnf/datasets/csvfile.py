"""Feature rows from a CSV file: numeric feature columns and one label column.

The label column is chosen by name (the file then needs a header row) or by index, and is
the last column by default. A header is recognised when the first row is not all numbers.
Labels may be class names (strings, mapped to indices in sorted order; the names become the
Dataset's ``class_names``) or numbers, kept as float64: whole numbers are class indices for a
model with one output per class, and any numbers are regression targets for a model with one
output (``nnf.labels``).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from ..errors import DataError
from .dataset import Dataset

__all__ = ["load_csv"]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def load_csv(
    path: str | os.PathLike[str],
    label: str | int | None = None,
    delimiter: str | None = None,
    name: str | None = None,
) -> Dataset:
    """A Dataset from the rows of ``path``: x ``(N, F)`` float32, y from the label column.

    ``label``: column name or index (negative counts from the end; default -1, the last).
    ``delimiter``: default "," (tab for ``.tsv``).
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file; check the path")
    sep = delimiter or ("\t" if p.suffix.lower() == ".tsv" else ",")
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f, delimiter=sep) if any(c.strip() for c in r)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{p}: not a readable CSV text file ({exc})") from None
    if not rows:
        raise DataError(f"{p}: the file holds no rows")
    width = len(rows[0])
    header = None
    if any(_number(c) is None for c in rows[0][:-1]) or (
        isinstance(label, str) and label in [c.strip() for c in rows[0]]
    ):
        header, rows = [c.strip() for c in rows[0]], rows[1:]
    if width < 2:
        raise DataError(f"{p}: needs at least one feature column and a label column")
    index = _label_index(label, header, width, p)
    features, labels = [], []
    for line, row in enumerate(rows, start=2 if header else 1):
        if len(row) != width:
            raise DataError(f"{p}, line {line}: {len(row)} columns where the first row has {width}")
        values = [_number(c) for i, c in enumerate(row) if i != index]
        if any(v is None for v in values):
            bad = next(c for i, c in enumerate(row) if i != index and _number(c) is None)
            raise DataError(
                f"{p}, line {line}: feature value {bad!r} is not a number; features must be "
                "numeric (encode categories as numbers first)"
            )
        features.append(values)
        labels.append(row[index].strip())
    if not features:
        raise DataError(f"{p}: no data rows after the header")
    x = np.asarray(features, dtype=np.float32)
    numbers = [_number(v) for v in labels]
    if any(v is None for v in numbers):
        class_names = tuple(sorted(set(labels)))
        lookup = {n: i for i, n in enumerate(class_names)}
        indices = np.asarray([lookup[v] for v in labels], dtype=np.int64)
        return Dataset(name=name or p.stem, x_train=x, y_train=indices, class_names=class_names)
    # Numbers stay float64: class ids for a model with one output per class, targets for a
    # regression (nnf.labels decides from the model, as for np.loadtxt data).
    return Dataset(name=name or p.stem, x_train=x, y_train=np.asarray(numbers, dtype=np.float64))


def _label_index(label: str | int | None, header: list[str] | None, width: int, p: Path) -> int:
    if label is None:
        return width - 1
    if isinstance(label, str) and not label.lstrip("-").isdigit():
        if header is None or label not in header:
            have = ", ".join(header) if header else "no header row"
            raise DataError(f"{p}: no column named {label!r} (columns: {have})")
        return header.index(label)
    index = int(label)
    if not -width <= index < width:
        raise DataError(f"{p}: label column {index} is outside the {width} columns")
    return index % width
