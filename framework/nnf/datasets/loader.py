"""``load``: one entry point for the bundled subset, the full sets, and the user's own files."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError
from .bundled import BUNDLED_NAME, load_bundled
from .csvfile import load_csv
from .dataset import Dataset
from .files import (
    IDX_FILES,
    find_idx_files,
    load_idx_folder,
    load_npy_folder,
    load_npy_pair,
    load_npz,
)
from .images import load_image_folder, looks_like_image_folder
from .remote import MANUAL_HINT, REMOTES, Remote, cache_dir, fetch_to_cache

__all__ = ["load", "search_dirs"]

DATA_DIR_ENV = "NNF_DATA_DIR"


def load(
    source: str | os.PathLike[str] = BUNDLED_NAME,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    progress: bool = True,
    *,
    remote: Remote | None = None,
    label: str | int | None = None,
    channels: int | None = None,
    image_size: tuple[int, int] | None = None,
) -> Dataset:
    """Load a dataset by name or from a path.

    ``source``:
    - ``"mnist-small"``: the subset shipped with nnf (never downloads);
    - ``"mnist"``, ``"fashion-mnist"``: the full sets, looked for in ``data_dir``, then
      ``$NNF_DATA_DIR`` (each directly or in a subfolder named after the dataset), then
      system folders (Debian's ``/usr/share/datasets/fashion-mnist``), then the cache
      (``$NNF_CACHE_DIR/<name>`` or ``~/.cache/nnf/<name>``), and finally downloaded into the
      cache from public mirrors if ``download`` (each file checked by SHA-256);
    - a folder holding the four standard IDX files (gzipped or not);
    - a folder of images with one subfolder per class (optionally under ``train/`` and
      ``test/``), decoded with Pillow into ``(N, C, H, W)`` uint8; ``channels`` (1 or 3) and
      ``image_size`` ``(H, W)`` convert and resize them (``load_image_folder``);
    - a folder with ``x_train.npy`` and ``y_train.npy`` (and optionally ``x_test.npy``,
      ``y_test.npy``), or two ``.npy`` files joined by a comma: ``"x.npy,y.npy"``;
    - a ``.csv`` (or ``.tsv``) file of numeric features and a label column, the last one
      or the one named (or numbered) by ``label`` (``load_csv``);
    - an ``.npz`` file with ``x_train``, ``y_train`` and optionally ``x_test``, ``y_test``.

    ``remote`` replaces the built-in mirrors and digests for ``source`` (private mirrors,
    tests). Raises ``DataError`` when nothing usable is found.
    """
    if not isinstance(source, (str, os.PathLike)):
        raise DataError(f"dataset source must be a name or a path, got {type(source).__name__}")
    key = os.fspath(source)
    if key == BUNDLED_NAME:
        return load_bundled()
    spec = remote if remote is not None else REMOTES.get(key)
    if spec is not None:
        return _load_remote(spec, data_dir, download, progress)
    if "," in key and all(p.strip().lower().endswith(".npy") for p in key.split(",")):
        parts = [Path(p.strip()).expanduser() for p in key.split(",")]
        if len(parts) not in (2, 4):
            raise DataError(f"{key!r}: give x.npy,y.npy (or x,y,x_test,y_test .npy files)")
        return load_npy_pair(*parts[:2], *(parts[2:] or (None, None)))
    path = Path(key).expanduser()
    if path.is_dir():
        if find_idx_files(path):
            return load_idx_folder(path)
        if (path / "x_train.npy").is_file():
            return load_npy_folder(path)
        if looks_like_image_folder(path):
            return load_image_folder(path, channels=channels, size=image_size)
        raise DataError(
            f"{path}: found no IDX files, no x_train.npy and no class subfolders of images; "
            "see docs/data.md for the layouts nnf reads"
        )
    if path.is_file():
        if path.suffix.lower() in (".csv", ".tsv"):
            return load_csv(path, label=label)
        return load_npz(path)
    known = ", ".join([BUNDLED_NAME, *REMOTES])
    raise DataError(
        f"unknown dataset {key!r}: no such file or folder; use one of {known}, a folder "
        "(IDX files, .npy files or images in class subfolders), a .csv, an .npz, or x.npy,y.npy"
    )


def search_dirs(spec: Remote, data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Folders searched for ``spec``'s files before the cache, in order."""
    dirs: list[Path] = []
    for base, what in ((data_dir, "data_dir"), (os.environ.get(DATA_DIR_ENV), DATA_DIR_ENV)):
        if not base:
            continue
        base = Path(base).expanduser()
        if not base.is_dir():
            raise DataError(f"{what} {base} is not a folder; create it or point {what} elsewhere")
        dirs += [base, *(base / sub for sub in spec.subdirs)]
    dirs += [Path(d) for d in spec.system_dirs]
    return dirs


def _load_remote(
    spec: Remote, data_dir: str | os.PathLike[str] | None, download: bool, progress: bool
) -> Dataset:
    looked = []
    for folder in search_dirs(spec, data_dir):
        found = find_idx_files(folder)
        if len(found) == len(IDX_FILES):
            return load_idx_folder(folder, name=spec.name, class_names=spec.class_names)
        if found:  # say so: a half-filled folder is probably a mistake
            looked.append(f"{folder} (has {len(found)} of {len(IDX_FILES)} files)")
        elif folder.is_dir():
            looked.append(str(folder))
    cache = cache_dir(spec.name)
    present = {IDX_FILES[field] for field in find_idx_files(cache)}
    if len(present) < len(IDX_FILES):
        if not download:
            looked.append(f"{cache} (cache)")
            raise DataError(
                f"{spec.name} not found (looked in: {', '.join(looked)}); "
                f"pass download=True or {MANUAL_HINT}"
            )
        fetch_to_cache(spec, cache, skip=present, progress=progress)
    return load_idx_folder(cache, name=spec.name, class_names=spec.class_names)
