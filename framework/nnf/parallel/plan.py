"""The order in which a model runs its layers: ReLU after the max pooling that follows it.

max(relu(a), relu(b)) == relu(max(a, b)) exactly, and the gradients agree too (ReLU's
derivative is 0 wherever it is flat, so a tie it creates never routes a non-zero gradient).
Pooling first, the element-wise layer then touches a quarter of the values (2x2 pools), in
forward and backward: LeNet-5 trained 1.07-1.10x faster, to the same weights bit for bit
(benchmarks/README.md). Outputs and parameter gradients are the same bits; an input
gradient may differ in the sign of a zero (overlapping pools), or where an input is NaN.
Any pair of layers declaring ``commutes_with_max`` and ``takes_maxima`` (``nnf.Layer``) is
run this way; the model's own ``layers`` list, what it saves and what it exports keep the
order it was written in. What changes is only what a moved layer sees: its ``input`` and
``output`` after a forward are pooled-sized.

Then each layer is asked whether it fuses with the next one (``Layer.fuse_with``, for a next
layer without ``params`` or ``state``): the built-in ``Convolutional`` answers a following
non-overlapping ``MaxPool2D`` (after the move above, conv -> ReLU -> pool becomes conv+pool
-> ReLU) with a step that pools each block of products while in cache and scatters the
pool's gradient straight into the convolution's layout (``nnf_layers.conv_pool``): the
convolution's full-sized output and gradient are never made. The CIFAR-sized net trained
faster to the same weights up to float rounding (benchmarks/README.md, "Session 8: conv+pool
fusion"). A fused pair takes both positions of the order: the step, then an ``Absorbed``
pass-through for the second layer, so positions counted in execution order (the ``start``
of ``Sequential.backward``, fit's fused softmax) still name the model's layers. What
changes is what the fused layers keep: the pool's ``input`` (the convolution's output) is
never made, so it holds none after a fused forward (see ``ConvPool``). ``unfused()`` runs
a block without fusion (tests and A/B benchmarks compare the two).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from ..layer import Layer, Shape

# Whether ``execution_order`` fuses layers (``unfused()``); per context, so a block without
# fusion changes nothing for other threads.
FUSE: ContextVar[bool] = ContextVar("nnf_fuse", default=True)


@contextmanager
def unfused() -> Iterator[None]:
    """A block whose models run every layer on its own (no ``Layer.fuse_with`` steps)."""
    token = FUSE.set(False)
    try:
        yield
    finally:
        FUSE.reset(token)


class Absorbed(Layer):
    """The place in an execution order of a layer that the fused step before it runs: values
    and gradients pass through unchanged (``Layer.fuse_with``)."""

    key = ""  # a step of an execution order, never saved or registered
    keeps = ()
    samples_independent = True  # the fused step's type answers for both layers

    def __init__(self, layer: Layer) -> None:
        self.layer = layer
        self.in_shape = self.out_shape = layer.out_shape
        self.dtype, self.name = layer.dtype, layer.name

    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        return np.asarray(x)

    def _backward(self, output_gradient: Any) -> np.ndarray:
        return np.asarray(output_gradient)

    def replica(self) -> Layer:
        return Absorbed(self.layer)


def execution_order(layers: Sequence[Layer]) -> list[Layer]:
    """``layers`` with every ``commutes_with_max`` layer moved after the ``takes_maxima``
    layers directly following it, then fused pairs replaced by their step and an
    ``Absorbed`` (a new list of the same length; ``layers`` is left as it is)."""
    order = list(layers)
    moved = True
    while moved:  # each swap moves a commuting layer past one that does not: this ends
        moved = False
        for i in range(len(order) - 1):
            left, right = type(order[i]), type(order[i + 1])
            if left.commutes_with_max and right.takes_maxima and not right.commutes_with_max:
                order[i], order[i + 1] = order[i + 1], order[i]
                moved = True
    return fused(order) if FUSE.get() else order


def fused(order: Sequence[Layer]) -> list[Layer]:
    """``order`` with each pair that ``Layer.fuse_with`` fuses replaced by the step and an
    ``Absorbed`` for the second layer; a layer is fused once at most."""
    out: list[Layer] = []
    i = 0
    while i < len(order):
        layer = order[i]
        if i + 1 < len(order):
            following = order[i + 1]
            ask = getattr(layer, "fuse_with", None)  # duck-typed layers may lack it
            step = None
            if ask is not None and not following.params and not following.state:
                step = ask(following)
            if step is not None:
                out += [step, Absorbed(following)]
                i += 2
                continue
        out.append(layer)
        i += 1
    return out


def output_shape(order: Sequence[Layer]) -> Shape | None:
    """The sample shape ``order`` outputs. A moved layer keeps the shapes it was built with,
    but element-wise layers never change a shape, so the last other layer's shape is it."""
    for layer in reversed(order):
        if not type(layer).commutes_with_max:
            return layer.out_shape
    return order[-1].out_shape if order else None
