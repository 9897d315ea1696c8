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
"""

from __future__ import annotations

from collections.abc import Sequence

from ..layer import Layer, Shape


def execution_order(layers: Sequence[Layer]) -> list[Layer]:
    """``layers`` with every ``commutes_with_max`` layer moved after the ``takes_maxima``
    layers directly following it (a new list; ``layers`` is left as it is)."""
    order = list(layers)
    moved = True
    while moved:  # each swap moves a commuting layer past one that does not: this ends
        moved = False
        for i in range(len(order) - 1):
            left, right = type(order[i]), type(order[i + 1])
            if left.commutes_with_max and right.takes_maxima and not right.commutes_with_max:
                order[i], order[i + 1] = order[i + 1], order[i]
                moved = True
    return order


def output_shape(order: Sequence[Layer]) -> Shape | None:
    """The sample shape ``order`` outputs. A moved layer keeps the shapes it was built with,
    but element-wise layers never change a shape, so the last other layer's shape is it."""
    for layer in reversed(order):
        if not type(layer).commutes_with_max:
            return layer.out_shape
    return order[-1].out_shape if order else None
