"""What ``nnf report`` and ``nnf show`` share: the matplotlib check, models from run folders,
and one sample read from an image or ``.npy`` file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import USAGE, CommandError

if TYPE_CHECKING:
    from ..model import Sequential

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def require_matplotlib(what: str) -> None:
    """Exit 2 with the install command, before any work, when matplotlib is missing."""
    import importlib.util

    from ..visual.canvas import INSTALL_HINT

    if importlib.util.find_spec("matplotlib") is None:
        raise CommandError(f"{what} needs matplotlib: {INSTALL_HINT}", USAGE)


def model_of(run: str) -> tuple[Sequential, Path]:
    """The model of a run folder (its last.nnf) or a .nnf file."""
    from .. import io
    from ..visual.runs import run_model_path

    if not Path(run).exists():
        raise CommandError(f"{run!r} does not exist: give a run folder (runs/NAME) or a .nnf file")
    path = run_model_path(run)
    return io.load(path), path


def read_sample(path: str, model: Sequential, index: int = 0, invert: bool = False) -> np.ndarray:
    """One sample shaped like the model's input, from a ``.npy`` file (one sample, or a stack
    of them: ``index`` picks one) or an image file (converted to grey for a one-channel model;
    pixels scaled to [0, 1]). ``invert`` turns dark ink on white into MNIST's white on black."""
    from . import data as fitdata

    file = Path(path)
    if not file.is_file():
        raise CommandError(f"image file {path!r} does not exist", USAGE)
    shape = tuple(model.input_shape or ())
    size = int(np.prod(shape))
    if file.suffix.lower() == ".npy":
        array = np.load(file, allow_pickle=False)
        if array.size != size:  # a stack of samples
            if array.ndim < 2 or array[0].size != size:
                raise CommandError(
                    f"{path} holds an array shaped {array.shape}; the model takes samples of "
                    f"{size} values shaped {shape}",
                    USAGE,
                )
            if not 0 <= index < len(array):
                raise CommandError(f"--index {index}: {path} holds {len(array)} samples", USAGE)
            array = array[index]
    elif file.suffix.lower() in IMAGE_SUFFIXES:
        array = _read_image(file, shape)
    else:
        raise CommandError(
            f"{path}: give a .npy file or an image ({', '.join(IMAGE_SUFFIXES)})", USAGE
        )
    sample = fitdata.fit_inputs(array, model, repr(path))[0]  # nnf.inputs: one sample
    return 1.0 - sample if invert else sample


def _read_image(file: Path, shape: tuple[int, ...]) -> np.ndarray:
    from matplotlib.image import imread

    try:
        pixels = np.asarray(imread(file))
    except (OSError, ValueError, SyntaxError) as exc:
        raise CommandError(f"{file} is not an image this machine can read: {exc}", USAGE) from None
    if pixels.dtype == np.uint8:
        pixels = pixels.astype(np.float64) / 255.0
    if pixels.ndim == 3:
        pixels = pixels[..., :3]  # drop alpha
    channels = shape[0] if len(shape) == 3 else 1
    if pixels.ndim == 3 and channels == 1:
        pixels = pixels.mean(axis=-1)
    elif pixels.ndim == 3:
        pixels = np.moveaxis(pixels, -1, 0)  # channels first, as the model takes them
    elif channels == 3:
        pixels = np.repeat(pixels[None], 3, axis=0)
    wanted = shape[-2:] if len(shape) >= 2 else None
    if wanted is not None and tuple(pixels.shape[-2:]) != tuple(wanted):
        raise CommandError(
            f"{file} is {pixels.shape[-1]}x{pixels.shape[-2]} pixels but the model takes "
            f"{wanted[1]}x{wanted[0]}; resize it first",
            USAGE,
        )
    return pixels.astype(np.float64)
