"""A ``Convolutional`` and the non-overlapping ``MaxPool2D`` after it, run as one step.

``Convolutional.fuse_with`` returns it when the execution plan (``nnf.parallel.plan``) asks:
the model's layers stay as written; only the order a model runs holds this step. It owns
nothing: its ``params``, ``grads`` and ``state`` are the convolution's own dicts (the pool has
none), and what forward keeps for backward is kept on the two layers' per-thread
attributes, as each keeps it, so a step made afresh for backward finds it:

* the convolution's ``input`` and ``saved``, as after its own forward;
* the pool's ``argmax`` (training), but not its ``input``: the convolution's full-sized
  output is never made (``kernels.fused``). Its ``output`` is this step's.

Shapes: (N, C, H, W) -> (N, D, H'//p, W'//p), one sample (C, H, W) -> (D, H'//p, W'//p).
``backward`` also takes dL/dy of the convolution's output (N, D, H', W'), as a model's
backward started before the pool hands it (``Sequential.backward(g, start)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from nnf.layer import Layer

from ._common import as_gradient
from .convolutional import Convolutional
from .kernels import fused
from .pooling import MaxPool2D

LARGEST_POOL = 16  # p*p indices fit the uint8 argmax


def fusable(conv: Convolutional, pool: Layer) -> bool:
    """Whether ``conv`` and ``pool`` (run right after it) can run as one ``ConvPool``: a
    built plain ``MaxPool2D`` with stride == pool_size >= 2 (windows that neither overlap nor
    leave gaps) on a built convolution of the same dtype."""
    return (
        type(pool) is MaxPool2D
        and conv.built
        and pool.built
        and 2 <= pool.pool_size <= LARGEST_POOL
        and pool.step == pool.pool_size
        and pool.in_shape == conv.out_shape
        and pool.dtype == conv.dtype
    )


class ConvPool(Layer):
    """Convolution then max pooling in one forward and one backward (see the module)."""

    key = ""  # a step of an execution order, never saved or registered
    keeps = ()  # everything is kept on the two layers
    samples_independent = True  # both layers are

    def __init__(self, conv: Convolutional, pool: MaxPool2D) -> None:
        self.conv, self.pool = conv, pool
        self.params, self.grads, self.state = conv.params, conv.grads, conv.state
        self.in_shape, self.out_shape = conv.in_shape, pool.out_shape
        self.dtype, self.name, self.rng = conv.dtype, conv.name, conv.rng

    @property
    def label(self) -> str:
        return f"{self.conv.label} + {self.pool.label}"

    def forward_macs(self) -> int:
        """Multiply-adds of one sample's forward: the convolution's, as ``nnf.parallel.host``
        counts them for the layer unfused (the pool's comparisons are not weighed)."""
        from nnf.parallel.host import forward_macs

        return forward_macs(self.conv)

    def forget(self) -> None:
        self.conv.forget()
        self.pool.forget()

    def replica(self) -> Layer:
        return ConvPool(self.conv.replica(), self.pool.replica())  # type: ignore[arg-type]

    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        conv, pool = self.conv, self.pool
        conv.require_built()
        conv.input = x = np.asarray(x, dtype=conv.dtype)
        single = conv._single(x)
        y, argmax, saved = fused.conv_pool(
            conv._plan,
            x[None] if single else x,
            conv.params["kernels"],
            conv.params["biases"],
            conv.bias == "channel",
            pool.pool_size,
            training,
        )
        conv.saved = saved
        pool.forget()  # nothing of an earlier unfused call: its input is never made here
        pool.argmax = argmax
        return y[0] if single else y

    def _backward(self, output_gradient: Any) -> np.ndarray:
        dx = self._gradients(output_gradient, with_input=True)
        assert dx is not None
        return dx

    def _backward_parameters(self, output_gradient: Any) -> None:
        self._gradients(output_gradient, with_input=False)

    def _gradients(self, output_gradient: Any, with_input: bool) -> np.ndarray | None:
        """Add dL/dK and dL/db into the convolution's ``grads``; return dL/dx if asked."""
        conv, pool = self.conv, self.pool
        x = conv.input
        if np.shape(output_gradient)[-3:] == conv.out_shape:  # dL/d(conv output): a backward
            return conv._gradients(output_gradient, with_input)  # started before the pool
        if pool.argmax is None:  # forward ran in inference mode: take the argmax now
            self.forward(x, training=True)
        argmax = pool.argmax
        assert argmax is not None
        single = conv._single(x)
        out_shape = self.out_shape or ()
        g = as_gradient(
            self, output_gradient, out_shape if single else (len(x), *out_shape), conv.dtype
        )
        batch_g = g[None] if single else g
        geo = conv._plan.geo
        dy = fused.pooled_gradient(batch_g, argmax, pool.pool_size, (geo.out_h, geo.out_w))
        d_kernels, dx = conv._plan.gradients(dy, conv.saved, conv.params["kernels"], with_input)
        conv.grads["kernels"] += d_kernels
        if conv.bias == "channel":
            conv.grads["biases"] += batch_g.sum(axis=(0, 2, 3))
        else:
            whole = dy if isinstance(dy, np.ndarray) else dy.full()
            conv.grads["biases"] += whole.sum(axis=0)
        if dx is None:
            return None
        return dx[0] if single else dx
