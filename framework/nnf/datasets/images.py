"""Images from files: a folder with one subfolder per class, or single image files.

Decoding is Pillow's (``pip install 'nnf-framework[images]'``). Images come out channels
first, as nnf's layers take them: ``(N, C, H, W)`` uint8, C = 1 (grayscale) or 3 (RGB).

    flowers/                       flowers/train/daisy/...   (optional split folders:
      daisy/001.png                flowers/test/daisy/...     train/ and test/)
      tulip/002.jpg

Class names are the subfolder names, in sorted order (label 0 is the first).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .dataset import Dataset

__all__ = ["IMAGE_SUFFIXES", "is_image_file", "load_image_folder", "read_images"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise DataError(
            "reading images needs Pillow: pip install 'nnf-framework[images]'"
        ) from None
    return Image


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a file with an image suffix (PNG, JPEG, BMP, ...)."""
    p = Path(path)
    return p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def read_images(
    paths: Sequence[str | os.PathLike[str]],
    channels: int | None = None,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Decode image files into ``(N, C, H, W)`` uint8.

    ``channels``: 1 (grayscale) or 3 (RGB); default 1 when every image is grayscale, else 3.
    ``size``: ``(height, width)`` to resize to; without it every image must have the same size.
    """
    image_module = _pil()
    if channels not in (None, 1, 3):
        raise DataError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}")
    images = []
    for path in paths:
        try:
            with image_module.open(path) as img:
                img.load()
                images.append((Path(path), img.copy()))
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: not a readable image ({exc})") from None
    if not images:
        raise DataError("no image files given")
    if channels is None:
        channels = 1 if all(img.mode in GRAY_MODES for _, img in images) else 3
    mode = "L" if channels == 1 else "RGB"
    out = []
    first_path, first = images[0]
    for path, img in images:
        if img.mode in ("I", "I;16", "F") and mode == "L":
            img = img.point(lambda v: v / 256).convert("L")  # 16-bit grayscale to 8 bits
        img = img.convert(mode)
        if size is not None:
            img = img.resize((int(size[1]), int(size[0])), image_module.Resampling.BILINEAR)
        elif img.size != first.size:
            raise DataError(
                f"{path} is {img.size[0]}x{img.size[1]} pixels but {first_path} is "
                f"{first.size[0]}x{first.size[1]}; resize them (size=(H, W), or --resize in "
                "the nnf command)"
            )
        a = np.asarray(img, dtype=np.uint8)
        out.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    return np.stack(out)


def _class_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def looks_like_image_folder(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` has class subfolders holding images (directly or under train/)."""
    root = Path(folder)
    if (root / "train").is_dir():
        root = root / "train"
    return any(_image_files(sub) for sub in _class_folders(root)) if root.is_dir() else False


def _split(
    folder: Path, classes: Sequence[str] | None, channels: int | None, size: Any
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    subs = _class_folders(folder)
    names = tuple(classes) if classes is not None else tuple(p.name for p in subs)
    paths: list[Path] = []
    labels: list[int] = []
    for sub in subs:
        if sub.name not in names:
            raise DataError(
                f"{sub} is a class the training images do not have ({', '.join(names)})"
            )
        found = _image_files(sub)
        paths += found
        labels += [names.index(sub.name)] * len(found)
    if not paths:
        raise DataError(
            f"{folder}: no images found; put them in one subfolder per class, e.g. "
            f"{folder}/cat/001.png"
        )
    return read_images(paths, channels, size), np.asarray(labels, dtype=np.int64), names


def load_image_folder(
    folder: str | os.PathLike[str],
    channels: int | None = None,
    size: tuple[int, int] | None = None,
    name: str | None = None,
) -> Dataset:
    """A Dataset from a folder of class subfolders (with optional train/ and test/ splits).

    ``channels`` and ``size`` as in ``read_images`` (one decision for both splits). ``x`` is
    ``(N, C, H, W)`` uint8 (``fit`` scales it to [0, 1]); ``y`` the class indices.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder")
    _pil()
    train_dir = root / "train" if (root / "train").is_dir() else root
    if channels is None:  # decide once for both splits: grayscale only if all are
        channels = _channels_of(root)
    x, y, names = _split(train_dir, None, channels, size)
    if size is None:
        size = (int(x.shape[2]), int(x.shape[3]))
    kwargs: dict[str, Any] = {}
    if train_dir != root and (root / "test").is_dir():
        xt, yt, _ = _split(root / "test", names, channels, size)
        kwargs = {"x_test": xt, "y_test": yt}
    return Dataset(name=name or root.name, x_train=x, y_train=y, class_names=names, **kwargs)


def _channels_of(root: Path) -> int:
    image_module = _pil()
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            try:
                with image_module.open(path) as img:
                    if img.mode not in GRAY_MODES:
                        return 3
            except OSError as exc:
                raise DataError(f"{path}: not a readable image ({exc})") from None
    return 1
