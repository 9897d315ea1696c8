"""Small layers and models for the model-file tests (tests/test_io_*.py).

The layers are registered only inside ``registered()`` so that the global registry is left
as other tests expect it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import attrs
import nnf
import numpy as np
from nnf.registry import REGISTRY


@attrs.define(eq=False)
class Affine(nnf.Layer):
    """``y = x W + b``: (N, n) -> (N, units)."""

    key = "test.Affine.v1"
    units: int = 4

    def _build(self, input_shape, rng, dtype):
        (n,) = input_shape
        self.params = {
            "weights": (rng.standard_normal((n, self.units)) / np.sqrt(n)).astype(dtype),
            "bias": np.zeros(self.units, dtype=dtype),
        }
        return (self.units,)

    def forward(self, x, training=False):
        self.input = x
        return x @ self.params["weights"] + self.params["bias"]

    def _backward(self, g):
        self.grads["weights"] += self.input.T @ g
        self.grads["bias"] += g.sum(axis=0)
        return g @ self.params["weights"].T


@attrs.define(eq=False)
class Noise(nnf.Layer):
    """Multiplicative noise while training (uses ``self.rng``); counts its training calls."""

    key = "test.Noise.v1"
    scale: float = 0.1

    def _build(self, input_shape, rng, dtype):
        self.state = {"calls": np.zeros((), dtype=np.int64)}
        return input_shape

    def forward(self, x, training=False):
        if not training:
            return x
        self.state["calls"] += 1
        self.mask = 1 + self.scale * self.rng.standard_normal(x.shape).astype(x.dtype)
        return x * self.mask

    def _backward(self, g):
        return g * self.mask


@attrs.define(eq=False)
class Tanh(nnf.Layer):
    key = "test.Tanh.v1"

    def forward(self, x, training=False):
        self.output = np.tanh(x)
        return self.output

    def _backward(self, g):
        return g * (1 - self.output**2)


TEST_LAYERS = (Affine, Noise, Tanh)


@contextlib.contextmanager
def registered(*classes: type[nnf.Layer]) -> Iterator[None]:
    """Register the test layers for the duration of a ``with`` block."""
    classes = classes or TEST_LAYERS
    for cls in classes:
        REGISTRY.register(cls, override=True)
    try:
        yield
    finally:
        for cls in classes:
            REGISTRY.unregister(cls.key)


def small_model(dtype: str = "float32", seed: int = 0, units: int = 6) -> nnf.Sequential:
    """Affine -> Noise -> Tanh -> Affine on 5 features, built with ``seed``."""
    model = nnf.Sequential(
        [Affine(units=units), Noise(), Tanh(), Affine(units=3)], input_shape=(5,), dtype=dtype
    )
    return model.build(seed=seed)


def data(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 5))
    y = np.tanh(x[:, :3] * 0.5 + 0.1)
    return x, y


def trained_model(dtype: str = "float32", epochs: int = 2, optimizer: str = "adam"):
    model = small_model(dtype)
    x, y = data()
    model.fit(x, y, epochs=epochs, batch_size=8, optimizer=optimizer, seed=7, verbose=0)
    return model


def all_arrays(model: nnf.Sequential) -> dict[str, np.ndarray]:
    return {
        f"{layer.name}.{k}": v
        for layer in model.layers
        for table in (layer.params, layer.state)
        for k, v in table.items()
    }


def assert_bit_equal(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        assert a[k].shape == b[k].shape, k
        assert a[k].tobytes() == b[k].tobytes(), k
