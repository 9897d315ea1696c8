"""A residual block (He et al., 2015): a few layers whose output is added to their input.

    y = f(x) + x                      f = the inner layers, applied in order
    y = f(x) + P(x)                   when f changes the shape: P is a projection

P is a 1x1 convolution (images, stride chosen so the sizes match, one bias per channel) or a
Dense layer (feature vectors), learned like any other layer; ``projection=True`` adds one even
when the shapes agree, ``False`` refuses shapes that differ.

Backward: the output gradient g reaches x along both paths, and the two contributions add:

    dL/dx = backward_f(g) + g              (or + backward_P(g))

where backward_f runs the inner layers' backward in reverse order; each inner layer (and P)
accumulates its own parameter gradients as usual.

The inner layers are ordinary layers, found through the registry by key like a model's, so a
plugin layer may sit inside. Their arrays appear in this layer's ``params``/``state`` as
``inner_name/array`` (the same arrays, not copies): optimizers, the model file and every tool
that walks ``params`` see them as this layer's. Its config lists them by registry key:
``{"layers": [{"key": ..., "version": ..., "name": ..., "config": {...}}, ...]}``; specs write
``layers = [{ type = "Convolutional", kernel_size = 3, depth = 16 }, ...]``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import attrs
import numpy as np
from nnf.errors import ConfigError, NNFError, ShapeError
from nnf.layer import Layer, Shape, backward_chain

from ._common import as_gradient, fmt_shape, input_error

#: Residual blocks inside residual blocks, at most (a file's config cannot recurse without end).
MAX_NESTING = 8
PROJECTION = "projection"  # the projection's name among the inner arrays

_nesting: ContextVar[int] = ContextVar("nnf_residual_nesting", default=0)


@contextmanager
def _one_level_deeper() -> Iterator[None]:
    depth = _nesting.get() + 1
    if depth > MAX_NESTING:
        raise ConfigError(f"Residual blocks nest more than {MAX_NESTING} deep")
    token = _nesting.set(depth)
    try:
        yield
    finally:
        _nesting.reset(token)


def _saved_layer(item: Mapping[str, Any], where: str) -> Layer:
    """An inner layer from its saved form ``{key, version, name, config}``, by exact key."""
    from nnf.registry import REGISTRY

    unknown = sorted(set(item) - {"key", "version", "name", "config"})
    if unknown:
        raise ConfigError(f"{where} has unknown entries {unknown}: use key, version, name, config")
    key = item.get("key")
    if not isinstance(key, str) or REGISTRY.entry(key) is None:
        raise ConfigError(
            f"{where} has type {key!r}, which is not installed; 'nnf layers' lists the "
            "installed layers"
        )
    cls = REGISTRY.get(key)
    version = item.get("version", cls.version)
    if version != cls.version:
        raise ConfigError(
            f"{where}: {key} was saved by layer version {version!r}, this one is version "
            f"{cls.version}; install the plugin release that wrote it"
        )
    config = item.get("config", {})
    if not isinstance(config, Mapping):
        raise ConfigError(f"{where}: config must be a map, got {type(config).__name__}")
    layer = cls.from_config(config)
    layer.name = item.get("name")
    return layer


def _spec_layer(index: int, item: Mapping[str, Any]) -> Layer:
    """An inner layer from a spec table ``{type = "Dense", name = ..., option = ...}``."""
    from nnf.spec import LAYER_KEYS, LayerSpec, make_layer

    spec = LayerSpec(
        index=index,
        type=str(item["type"]),
        options={k: v for k, v in item.items() if k not in LAYER_KEYS},
        name=item.get("name"),
    )
    layer = make_layer(spec, source="Residual")
    layer.name = spec.name
    return layer


def _inner_layers(value: Any) -> list[Layer]:
    """attrs converter: Layer instances, spec tables or saved records -> named Layers."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise ConfigError(
            "Residual needs layers: a non-empty list such as [Convolutional(kernel_size=3, "
            "depth=16, padding='same'), BatchNorm(), ReLU()]"
        )
    layers: list[Layer] = []
    with _one_level_deeper():
        for i, item in enumerate(value):
            where = f"Residual inner layer {i}"
            if isinstance(item, Layer):
                layer = item
            elif isinstance(item, Mapping) and "key" in item:
                layer = _saved_layer(item, where)
            elif isinstance(item, Mapping) and "type" in item:
                layer = _spec_layer(i, item)
            else:
                raise ConfigError(
                    f"{where} must be a layer or a table with a type, got {str(item)[:60]}"
                )
            layers.append(layer)
    names: set[str] = {PROJECTION}
    for i, layer in enumerate(layers):
        if layer.name is None:
            layer.name = f"{type(layer).__name__.lower()}_{i}"
        name = layer.name
        if not isinstance(name, str) or not _valid_inner_name(name) or name in names:
            raise ConfigError(
                f"Residual inner layer {i} has the name {name!r}: inner names must be unique, "
                f"not {PROJECTION!r}, with 1-64 characters and no '.' or '/'"
            )
        names.add(name)
    return layers


def _valid_inner_name(name: str) -> bool:
    return 0 < len(name) <= 64 and not any(c in "./" or ord(c) < 32 for c in name)


def _projection_option(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ConfigError(f"Residual: projection must be true, false or unset, got {value!r}")


@attrs.define(eq=False)
class Residual(Layer):
    """``y = f(x) + x`` for the inner ``layers`` f (a projection of x when shapes differ).

    ``Residual([Convolutional(kernel_size=3, depth=16, padding="same"), BatchNorm(), ReLU()])``.
    Shapes: f's (any sample shape); with a projection, images (C, H, W) -> (D, H', W') or
    features (F,) -> (G,). ``projection``: None (default) adds one only when the shapes
    differ, True always, False never.
    """

    key = "nnf.Residual.v1"
    # samples_independent stays False: the block runs whole batches (it may hold a BatchNorm)
    keeps = ()  # the inner layers keep what they need, each per thread

    layers: list[Layer] = attrs.field(
        converter=_inner_layers,
        metadata={"doc": "the inner layers f, each {key, version, name, config}, in order"},
    )
    projection: bool | None = attrs.field(
        default=None,
        converter=_projection_option,
        metadata={
            "doc": "null: project x only when f changes its shape; true: always; false: never"
        },
    )

    _projection: Layer | None = attrs.field(default=None, init=False, repr=False)

    # ------------------------------------------------------------------ structure
    def sublayers(self) -> list[Layer]:
        """The layers this block holds: the inner layers, then the projection if any."""
        return [*self.layers, *([self._projection] if self._projection is not None else [])]

    def get_config(self) -> dict[str, Any]:
        return {
            "layers": [
                {
                    "key": type(layer).key,
                    "version": type(layer).version,
                    "name": layer.name,
                    "config": layer.get_config(),
                }
                for layer in self.layers
            ],
            "projection": self.projection,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Layer:
        try:
            return super().from_config(config)
        except NNFError as exc:  # e.g. an inner plugin that fails to import: a config problem
            if isinstance(exc, ConfigError | ShapeError):
                raise
            raise ConfigError(f"Residual: {exc}") from None

    def build(
        self, input_shape: Any, rng: np.random.Generator | None = None, dtype: Any = "float32"
    ) -> Shape:
        out = super().build(input_shape, rng=rng, dtype=dtype)
        self._link()
        return out

    def _build(self, input_shape: Shape, rng: np.random.Generator, dtype: np.dtype) -> Shape:
        shape = input_shape
        for i, layer in enumerate(self.layers):
            try:
                shape = layer.build(shape, rng=rng, dtype=dtype)
            except (ShapeError, ConfigError) as exc:
                raise type(exc)(f"{self.label}: inner layer {i} {layer.label}: {exc}") from None
        self._projection = None
        if self.projection or (self.projection is None and shape != input_shape):
            self._projection = self._make_projection(input_shape, shape)
            self._projection.build(input_shape, rng=rng, dtype=dtype)
        elif shape != input_shape:
            raise ShapeError(
                f"{self.label}: the inner layers turn {fmt_shape(input_shape)} into "
                f"{fmt_shape(shape)}, which cannot be added to the input; leave projection "
                "unset (or true) to project the input"
            )
        return shape

    def _make_projection(self, shape_in: Shape, shape_out: Shape) -> Layer:
        from nnf.registry import REGISTRY

        if len(shape_in) == len(shape_out) == 1:
            layer = REGISTRY.get("nnf.Dense.v1")(output_size=shape_out[0])
        elif len(shape_in) == len(shape_out) == 3:
            stride = _stride(shape_in[1:], shape_out[1:])
            if stride is None:
                raise ShapeError(
                    f"{self.label}: no 1x1 convolution turns {fmt_shape(shape_in)} into "
                    f"{fmt_shape(shape_out)} (the sizes must shrink by one whole stride)"
                )
            conv = REGISTRY.get("nnf.Convolutional.v1")
            layer = conv(kernel_size=1, depth=shape_out[0], stride=stride, bias="channel")
        else:
            raise ShapeError(
                f"{self.label}: cannot project {fmt_shape(shape_in)} onto {fmt_shape(shape_out)}; "
                "a projection joins images (C, H, W) or feature vectors (F,)"
            )
        layer.name = PROJECTION
        return layer

    def _link(self) -> None:
        """Point ``params``, ``grads`` and ``state`` at the inner layers' own arrays."""
        for table in ("params", "grads", "state"):
            setattr(
                self,
                table,
                {
                    f"{layer.name}/{k}": v
                    for layer in self.sublayers()
                    for k, v in getattr(layer, table).items()
                },
            )

    def cast(self, dtype: Any) -> None:
        self.dtype = np.dtype(dtype)
        for layer in self.sublayers():
            layer.cast(dtype)
        self._link()

    def zero_grad(self) -> None:
        for layer in self.sublayers():
            layer.zero_grad()

    def forget(self) -> None:
        super().forget()
        for layer in self.sublayers():
            layer.forget()

    @property
    def rng(self) -> np.random.Generator | None:
        return self.__dict__.get("_rng")

    @rng.setter
    def rng(self, value: np.random.Generator | None) -> None:
        """The training loop seeds the block: each inner layer gets a stream drawn from it
        (for a Dropout inside), set here, never in forward."""
        self.__dict__["_rng"] = value
        if value is not None:
            for layer in self.sublayers():
                layer.rng = np.random.default_rng(value.integers(2**63))

    # ----------------------------------------------------------- forward/backward
    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        self.require_built()
        x = np.asarray(x, dtype=self.dtype)
        assert self.in_shape is not None
        if x.shape[1:] != self.in_shape:
            raise input_error(self, f"a batch (N, {fmt_shape(self.in_shape)[1:]}", x.shape)
        h = x
        for layer in self.layers:
            h = layer.forward(h, training=training)
        skip = x if self._projection is None else self._projection.forward(x, training=training)
        return h + skip

    def _gradient(self, output_gradient: Any) -> np.ndarray:
        assert self.out_shape is not None
        g = np.asarray(output_gradient)
        return as_gradient(self, g, (len(g), *self.out_shape), self.dtype)

    def _backward(self, output_gradient: Any) -> np.ndarray:
        g = self._gradient(output_gradient)
        grad = g
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        skip = g if self._projection is None else self._projection.backward(g)
        return grad + skip

    def _backward_parameters(self, output_gradient: Any) -> None:
        # Nobody wants dL/dx: neither path's first layer computes it.
        g = self._gradient(output_gradient)
        backward_chain(self.layers, g)
        if self._projection is not None:
            self._projection.backward_parameters(g)


def _stride(size_in: Sequence[int], size_out: Sequence[int]) -> int | None:
    """The stride s with (size - 1) // s + 1 == out on both axes (a 1x1 kernel), or None."""
    for s in range(1, max(size_in) + 1):
        if all((a - 1) // s + 1 == b for a, b in zip(size_in, size_out)):
            return s
    return None
