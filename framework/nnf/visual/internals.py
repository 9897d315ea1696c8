"""What a model holds inside, as arrays ready to draw: its first convolution's kernels, the
feature maps of one sample, the first Dense layer's weights seen as images. NumPy only.

Layers are recognised by what they hold, not by their registry keys, so plugin layers take
part: a convolution is a layer with a 4-D parameter ``(depth, C, k, k)``; a feature map is the
``(C, H, W)`` output of a layer that holds parameters or changes the shape (convolutions and
poolings, not the element-wise activations between them).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..layer import Layer, Shape
    from ..model import Sequential

IMAGE_CHANNELS = (1, 3)  # grey or RGB: what a sample must have to be drawn as an image


def image_shape(sample_shape: Shape | None) -> tuple[int, ...] | None:
    """How a sample is drawn: ``(H, W)`` or ``(H, W, 3)``, or None when it is not an image.

    ``(1, H, W)`` and ``(H, W)`` are grey, ``(3, H, W)`` is RGB (channels first, as nnf's
    convolutions take them) and a vector of a square number of values, at least 16, is a
    flattened grey square (an MLP on MNIST takes ``(784,)``).
    """
    shape = tuple(sample_shape or ())
    if len(shape) == 3 and shape[0] in IMAGE_CHANNELS and min(shape[1:]) > 1:
        return shape[1:] if shape[0] == 1 else (*shape[1:], 3)
    if len(shape) == 2 and min(shape) > 1:
        return shape
    if len(shape) in (1, 2) and (len(shape) == 1 or shape[1] == 1):
        side = math.isqrt(shape[0])
        if side >= 4 and side * side == shape[0]:
            return (side, side)
    return None


def as_images(x: np.ndarray, sample_shape: Shape | None) -> np.ndarray | None:
    """Samples ``(N, *sample_shape)`` as images ``(N, H, W)`` or ``(N, H, W, 3)``."""
    shape = image_shape(sample_shape)
    if shape is None:
        return None
    x = np.asarray(x, dtype=np.float64)
    if len(shape) == 3:  # channels first -> channels last
        return np.moveaxis(x.reshape(len(x), 3, *shape[:2]), 1, -1)
    return x.reshape(len(x), *shape)


def is_convolution(layer: Layer) -> bool:
    return any(p.ndim == 4 for p in layer.params.values())


def first_kernels(model: Sequential) -> tuple[Layer, np.ndarray] | None:
    """The first convolution and its kernels ``(depth, C, k, k)``, or None."""
    for layer in model.layers:
        for array in layer.params.values():
            if array.ndim == 4:
                return layer, np.asarray(array, dtype=np.float64)
    return None


def _shows_maps(layer: Layer) -> bool:
    out = tuple(layer.out_shape or ())
    if len(out) != 3 or min(out[1:]) < 2:
        return False
    # Parameters (a convolution) or fewer values out than in (a pooling); a reshape is skipped.
    return bool(layer.params) or math.prod(layer.in_shape or ()) != math.prod(out)


def feature_maps(model: Sequential, sample: np.ndarray) -> list[tuple[Layer, np.ndarray]]:
    """Each convolution's and pooling's output ``(C, H, W)`` for one sample shaped like the
    model's input, in the model's written order (activations are applied, not shown)."""
    out = np.asarray(sample, dtype=model.dtype).reshape((1, *(model.input_shape or ())))
    maps = []
    for layer in model.layers:
        out = layer.forward(out, training=False)
        if _shows_maps(layer):
            maps.append((layer, np.asarray(out[0], dtype=np.float64)))
    return maps


def dense_weight_images(model: Sequential) -> tuple[Layer, np.ndarray] | None:
    """For a model without convolutions on image inputs: its first layer with a 2-D weight
    matrix, and that matrix's rows as images ``(units, H, W)`` (what each unit looks for)."""
    if any(is_convolution(layer) for layer in model.layers):
        return None
    shape = image_shape(model.input_shape)
    if shape is None or len(shape) != 2:
        return None
    pixels = math.prod(shape)
    for layer in model.layers:
        for array in layer.params.values():
            if array.ndim == 2:
                if array.shape[1] != pixels:  # a first layer that does not see the pixels
                    return None
                return layer, np.asarray(array, dtype=np.float64).reshape(-1, *shape)
    return None
