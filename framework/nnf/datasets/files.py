"""Build a ``Dataset`` from files on disk: an .npz archive or a folder of IDX files."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import DataError
from .dataset import Dataset
from .idx import read_idx

__all__ = ["IDX_FILES", "find_idx_files", "load_idx_folder", "load_npy_pair", "load_npz"]

#: Dataset field -> standard IDX file stem (as published for MNIST and Fashion-MNIST).
IDX_FILES: dict[str, str] = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _variants(stem: str) -> list[str]:
    # Some copies use "train-images.idx3-ubyte" (a dot before idx); accept both.
    dotted = stem.replace("-idx", ".idx")
    return [stem, stem + ".gz", dotted, dotted + ".gz"]


def find_idx_files(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """The standard IDX files present in ``folder``, by Dataset field (missing ones absent)."""
    folder = Path(folder)
    found = {}
    for field, stem in IDX_FILES.items():
        for candidate in _variants(stem):
            path = folder / candidate
            if path.is_file():
                found[field] = path
                break
    return found


def load_idx_folder(
    folder: str | os.PathLike[str],
    name: str | None = None,
    class_names: tuple[str, ...] | None = None,
) -> Dataset:
    """Read the four standard IDX files (gzipped or not) from ``folder`` into a Dataset."""
    folder = Path(folder)
    files = find_idx_files(folder)
    missing = [IDX_FILES[f] for f in IDX_FILES if f not in files]
    if missing:
        raise DataError(
            f"{folder}: missing {', '.join(missing)} (with or without .gz); "
            "put all four IDX files there"
        )
    arrays = {field: read_idx(path) for field, path in files.items()}
    kwargs: dict[str, Any] = {} if class_names is None else {"class_names": class_names}
    return Dataset(name=name or folder.name, **arrays, **kwargs)


def load_npz(source: str | os.PathLike[str] | IO[bytes], name: str | None = None) -> Dataset:
    """Read x_train, y_train (and optionally x_test, y_test, class_names) from an .npz file.

    Pickled (object) arrays are refused: an .npz from an unknown source must not run code.
    """
    label = os.fspath(source) if isinstance(source, (str, os.PathLike)) else "<npz stream>"
    fix = "save it with np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)"
    try:
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as f:
                head = f.read(6)
            if head == b"\x93NUMPY":
                raise DataError(f"{label}: holds a single array, not an .npz archive; {fix}")
            if head[:2] != b"PK":  # else np.load would guess "pickle" and say so
                raise DataError(f"{label}: not an .npz file (no zip signature); {fix}")
        archive = np.load(source, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DataError(f"{label}: holds a single array, not an .npz archive; {fix}")
        with archive:
            keys = set(archive.files)
            absent = [k for k in ("x_train", "y_train") if k not in keys]
            if absent:
                has = ", ".join(sorted(keys)) or "none"
                raise DataError(f"{label}: missing {', '.join(absent)} (has: {has}); {fix}")
            arrays: dict[str, Any] = {k: archive[k] for k in NPZ_KEYS if k in keys}
            names = archive["class_names"] if "class_names" in keys else None
    except FileNotFoundError:
        raise DataError(f"{label}: no such file; check the path") from None
    except DataError:
        raise
    except ValueError as exc:  # object arrays need pickle; np.load says so in a ValueError
        raise DataError(f"{label}: cannot read without pickle ({exc}); {fix}") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{label}: not a readable .npz file ({exc}); {fix}") from None
    kwargs: dict[str, Any] = {}
    if names is not None:
        if names.ndim != 1 or names.dtype.kind not in "US":
            raise DataError(f"{label}: class_names must be a 1-d string array; {fix}")
        kwargs["class_names"] = tuple(str(n) for n in names)
    stem = Path(label).stem if isinstance(source, (str, os.PathLike)) else "npz"
    return Dataset(name=name or stem, **arrays, **kwargs)


def _read_npy(path: Path) -> np.ndarray:
    try:
        a = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file; check the path") from None
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy file without pickle ({exc})") from None
    if not isinstance(a, np.ndarray):
        raise DataError(f"{path}: an .npz archive, not a single .npy array")
    return a


def load_npy_pair(
    x_path: str | os.PathLike[str],
    y_path: str | os.PathLike[str],
    x_test_path: str | os.PathLike[str] | None = None,
    y_test_path: str | os.PathLike[str] | None = None,
    *,
    name: str | None = None,
) -> Dataset:
    """A Dataset from ``.npy`` files: samples ``x`` (N, ...) and labels or targets ``y``."""
    arrays: dict[str, Any] = {
        "x_train": _read_npy(Path(x_path)),
        "y_train": _read_npy(Path(y_path)),
    }
    if (x_test_path is None) != (y_test_path is None):
        raise DataError("give both x_test and y_test .npy files, or neither")
    if x_test_path is not None and y_test_path is not None:
        arrays["x_test"] = _read_npy(Path(x_test_path))
        arrays["y_test"] = _read_npy(Path(y_test_path))
    label = name or Path(x_path).stem
    if arrays["y_train"].dtype.kind in "US":  # class names: indices in sorted order
        classes = tuple(sorted({str(v) for k in arrays if k[0] == "y" for v in arrays[k]}))
        lookup = {c: i for i, c in enumerate(classes)}
        for k in [k for k in arrays if k[0] == "y"]:
            arrays[k] = np.asarray([lookup[str(v)] for v in arrays[k]], dtype=np.int64)
        return Dataset(label, class_names=classes, **arrays)
    return Dataset(label, **arrays)


def load_npy_folder(folder: str | os.PathLike[str], name: str | None = None) -> Dataset:
    """``x_train.npy`` and ``y_train.npy`` (and optionally ``x_test.npy``, ``y_test.npy``)."""
    root = Path(folder)
    test = root / "x_test.npy", root / "y_test.npy"
    has_test = all(p.is_file() for p in test)
    return load_npy_pair(
        root / "x_train.npy",
        root / "y_train.npy",
        test[0] if has_test else None,
        test[1] if has_test else None,
        name=name or root.name,
    )
