"""float32 training of a CIFAR-sized network follows float64: the same weights, data and
steps give the same falling training loss (the kernels' float32 paths lose no accuracy
that matters to training)."""

from __future__ import annotations

import numpy as np
from nnf import Sequential
from nnf.layers import Convolutional, Dense, Flatten, MaxPool2D, ReLU, Softmax
from nnf.optimizers import SGD


def cifar_sized(dtype: str) -> Sequential:
    """3x32x32, three 3x3 "same" convolutions 32/64/64 with a bias per channel, ReLU, 2x2
    max pools, Dense 256, Dense 10 (the benchmark suite's job (g))."""
    layers: list = []
    for depth in (32, 64, 64):
        layers += [
            Convolutional(kernel_size=3, depth=depth, padding="same", bias="channel", init="he"),
            ReLU(),
            MaxPool2D(2),
        ]
    layers += [Flatten(), Dense(output_size=256, init="he"), ReLU(), Dense(output_size=10)]
    return Sequential([*layers, Softmax()], input_shape=(3, 32, 32), dtype=dtype).build(seed=7)


def test_float32_training_loss_falls_like_float64() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((32, 3, 32, 32))
    y = rng.integers(0, 10, 32)  # random labels: only memorising lowers the loss
    losses = {}
    for dtype in ("float32", "float64"):
        model = cifar_sized(dtype)
        history = model.fit(
            x.astype(dtype),
            y,
            epochs=8,
            batch_size=16,
            optimizer=SGD(momentum=0.9),
            learning_rate=0.03,
            loss="categorical_crossentropy",
            seed=3,
            verbose=0,
            parallel="single",
        )
        losses[dtype] = np.array(history["loss"])
    f32, f64 = losses["float32"], losses["float64"]
    assert f64[-1] < 0.75 * f64[0], f64  # the float64 run learns the random labels
    assert f32[-1] < 0.75 * f32[0], f32
    np.testing.assert_allclose(f32, f64, rtol=0.02)  # epoch by epoch, the same curve
