"""A toy image dataset for command-line tests: small, easy to learn, made in milliseconds."""

from __future__ import annotations

import numpy as np


def make_images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 images (n, 8, 8) and labels (n,) of 3 classes: class c lights up row block
    c of the image, over noise."""
    y = rng.integers(0, 3, size=n).astype(np.uint8)
    x = rng.integers(0, 60, size=(n, 8, 8)).astype(np.uint8)
    for i, c in enumerate(y):
        x[i, 2 * c : 2 * c + 3, :] = 220
    return x, y
