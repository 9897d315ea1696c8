"""``load``: one entry point for the bundled subset, the full sets, and the user's own files."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError
from .bundled import BUNDLED_NAME, load_bundled
from .dataset import Dataset
from .files import IDX_FILES, find_idx_files, load_idx_folder, load_npz
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
    path = Path(key).expanduser()
    if path.is_dir():
        return load_idx_folder(path)
    if path.is_file():
        return load_npz(path)
    known = ", ".join([BUNDLED_NAME, *REMOTES])
    raise DataError(
        f"unknown dataset {key!r}: no such file or folder; use one of {known}, "
        "a folder of IDX files or an .npz file"
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
