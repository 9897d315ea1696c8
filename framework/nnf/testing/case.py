"""What one ``check_layer`` call works on: the class, its config, inputs and helpers to run it."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from ..layer import Layer, Shape


class CheckFailed(Exception):
    """One check found the layer at fault; the message says what and how to fix it."""


@attrs.define(eq=False)
class Case:
    """A layer class under test with the options of the ``check_layer`` call."""

    cls: type[Layer]
    config: dict[str, Any]
    input_shape: Shape
    batch_size: int = 3
    seed: int = 0
    tolerance: float = 1e-6
    eps: float = 1e-6
    max_entries: int | None = 256
    learning_rate: float = 0.1
    inputs: np.ndarray | None = None
    figures: dict[str, float] = attrs.Factory(dict)
    notes: list[str] = attrs.Factory(list)

    @property
    def label(self) -> str:
        key = getattr(self.cls, "key", "") or self.cls.__name__
        return f"{key} {self.config} on input {self.input_shape}"

    def rng(self, salt: int) -> np.random.Generator:
        """A fresh Generator: the same ``salt`` always gives the same numbers."""
        return np.random.default_rng([self.seed, salt])

    def batch(self, n: int | None = None) -> np.ndarray:
        """A float64 batch (n, *input_shape): the caller's ``inputs`` or standard normal draws."""
        if self.inputs is not None:
            x = np.array(self.inputs, dtype=np.float64)
            return x if n is None else x[:n].copy()
        n = self.batch_size if n is None else n
        return self.rng(1).standard_normal((n, *self.input_shape))

    def make(self, dtype: str = "float64") -> Layer:
        """A new layer from the config, built for ``input_shape`` with seeded weights."""
        layer = self.cls.from_config(copy.deepcopy(self.config))
        layer.name = "layer_under_test"
        layer.build(self.input_shape, rng=self.rng(2), dtype=dtype)
        layer.rng = self.rng(3)
        return layer

    def forward(self, layer: Layer, x: np.ndarray, training: bool) -> np.ndarray:
        """``layer.forward`` on a copy of ``x``; every training call draws the same numbers."""
        if training:
            layer.rng = self.rng(4)
        return np.array(layer.forward(x.copy(), training=training))


def snapshot(table: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.array(v, copy=True) for k, v in table.items()}


def restore(table: dict[str, np.ndarray], saved: Mapping[str, np.ndarray]) -> None:
    """Put saved values back into the same arrays (a layer may hold views of them)."""
    for k, v in saved.items():
        if k in table and table[k].shape == v.shape:
            table[k][...] = v
        else:
            table[k] = v.copy()


def copy_weights(source: Layer, target: Layer) -> None:
    """Give ``target`` exactly the parameters and state of ``source``."""
    restore(target.params, source.params)
    restore(target.state, source.state)


def same_bits(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> list[str]:
    """The names whose arrays differ in keys, dtype, shape or any bit (NaN equal to NaN)."""
    names = sorted(set(a) | set(b))
    return [
        k
        for k in names
        if k not in a
        or k not in b
        or a[k].dtype != b[k].dtype
        or a[k].shape != b[k].shape
        or a[k].tobytes() != b[k].tobytes()
    ]
