"""Measurement-only prototype: a convolution fused with the 2x2 max pool after it (session 8).

    NNF_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/ab_cifar_kernels.py --cpu-time \
        'base=pass' 'fused=import fusion_prototype; fusion_prototype.install(model)'
    python benchmarks/fusion_prototype.py      # same weights as unfused after an epoch?

Not a feature: it patches layer classes of one process to estimate what fusing would gain,
for whoever builds it in the execution plan (nnf/parallel/plan.py). For every
Convolutional -> ReLU -> MaxPool2D(2) of ``model`` (run as conv, pool, ReLU by the plan):

* forward pools each im2col block's product while it is in cache (argmax as
  ``kernels.pooling`` keeps it), adds the per-channel bias to the pooled quarter, and never
  writes the full-sized convolution output (the layer returns an untouched placeholder);
* backward (long-layout convolutions) scatters the pool's gradient by that argmax straight
  into the convolution's (D, B*L) dL/dy layout, so the full-sized dL/dx of the pool is never
  written either. A batch-major first layer already takes dL/dy as the pool writes it.

Assumes training on one thread, 2x2 pools on even sizes and ``bias="channel"``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import nnf_layers.convolutional as convlayer
import nnf_layers.kernels.convolution as conv
import nnf_layers.pooling as pool
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _pool_block(view: np.ndarray, y: np.ndarray, arg: np.ndarray) -> None:
    """2x2 maxima of the (B, D, H', W') view into ``y`` and their first argmax into ``arg``."""
    larger = np.empty(y.shape, dtype=bool)
    k = np.empty(y.shape, dtype=np.uint8)
    arg.fill(0)
    np.copyto(y, view[:, :, 0::2, 0::2])
    for q in (1, 2, 3):
        i, j = divmod(q, 2)
        v = view[:, :, i::2, j::2]
        np.greater(v, y, out=larger)
        np.maximum(y, v, out=y)
        np.multiply(larger, np.uint8(q), out=k)
        np.maximum(arg, k, out=arg)


def install(model: Any) -> None:
    """Patch the layer classes so that ``model``'s conv/ReLU/pool triples run fused."""
    layers = model.layers
    pool_of: dict[int, Any] = {}
    conv_of: dict[int, Any] = {}
    for i, layer in enumerate(layers[:-2]):
        if isinstance(layer, convlayer.Convolutional) and isinstance(layers[i + 2], pool.MaxPool2D):
            pool_of[id(layer)], conv_of[id(layers[i + 2])] = layers[i + 2], layer
    pooled: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    routed: set[int] = set()
    grads: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    active: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    conv_forward = convlayer.Convolutional.forward
    conv_gradients = convlayer.Convolutional._gradients
    pool_forward = pool.MaxPool2D.forward
    pool_backward = pool.MaxPool2D._backward
    gradient_block = conv.Convolution._gradient_block

    def forward(self: Any, x: Any, training: bool = False) -> np.ndarray:
        after = pool_of.get(id(self))
        if after is None or not training:
            return conv_forward(self, x, training)
        plan, geo = self._plan, self._plan.geo
        self.input = x = np.asarray(x, dtype=self.dtype)
        n, d = len(x), int(self.depth)
        xp = geo.pad(x, out=plan._buffer("padded", geo.padded_shape(n), x.dtype))
        y = np.empty((n, d, geo.out_h // 2, geo.out_w // 2), x.dtype)
        arg = np.empty(y.shape, np.uint8)
        matrix = self.params["kernels"].reshape(d, -1)
        step = plan.block_size(n, True)
        for a in range(0, n, step):
            b = min(a + step, n)
            cols = plan.block_columns(xp, a, b)
            if plan.batch_major:
                shape = (max(conv.SUB_BATCH, step), d, geo.length)
                out = plan._buffer("out", shape, x.dtype)[: b - a]
                np.matmul(matrix, cols, out=out)
                view = geo.positions_batched(out)
            else:
                work = plan._buffer("out", (d * max(conv.SUB_BATCH, step) * geo.length,), x.dtype)
                out = work[: d * cols.shape[1]].reshape(d, cols.shape[1])
                np.matmul(matrix, cols, out=out)
                view = geo.positions(out)
            _pool_block(view, y[a:b], arg[a:b])
        y += self.params["biases"][:, None, None]  # max(a + b, c + b) = max(a, c) + b
        self.saved = conv.Saved(x, xp, None)
        pooled[id(after)] = (y, arg)
        return np.empty((n, d, geo.out_h, geo.out_w), x.dtype)  # never read

    def pooled_forward(self: Any, x: Any, training: bool = False) -> np.ndarray:
        got = pooled.pop(id(self), None)
        if got is None:
            return pool_forward(self, x, training)
        self.input, self.argmax = x, got[1]
        routed.add(id(self))
        return got[0]

    def pooled_backward(self: Any, g: Any) -> np.ndarray:
        before = conv_of.get(id(self))
        if id(self) not in routed or before is None or before._plan.batch_major:
            routed.discard(id(self))
            return pool_backward(self, g)
        routed.discard(id(self))
        grads[id(before)] = (np.asarray(g, dtype=self.input.dtype), self.argmax)
        return np.empty(self.input.shape, self.input.dtype)  # never read

    def gradients(self: Any, output_gradient: Any, with_input: bool) -> np.ndarray | None:
        got = grads.pop(id(self), None)
        if got is None:
            return conv_gradients(self, output_gradient, with_input)
        active[id(self._plan)] = got
        try:
            kernels = self.params["kernels"]
            d_kernels, dx = self._plan.gradients(output_gradient, self.saved, kernels, with_input)
        finally:
            active.pop(id(self._plan), None)
        self.grads["kernels"] += d_kernels
        self.grads["biases"] += got[0].sum(axis=(0, 2, 3))
        return dx

    def block(self: Any, g: np.ndarray, a: int, b: int, step: int) -> np.ndarray:
        got = active.get(id(self))
        if got is None:
            return gradient_block(self, g, a, b, step)
        g_pooled, arg = got[0][a:b], got[1][a:b]
        geo, nb = self.geo, b - a
        name = "grad" if nb == step else "grad_last"
        matrix = self._buffer(name, (g_pooled.shape[1], nb * geo.length), g_pooled.dtype)
        positions = geo.positions(matrix)
        hit = np.empty(g_pooled.shape, dtype=bool)
        for q in range(4):
            i, j = divmod(q, 2)
            np.equal(arg, q, out=hit)
            np.multiply(g_pooled, hit, out=positions[:, :, i::2, j::2])
        return matrix

    convlayer.Convolutional.forward = forward  # type: ignore[method-assign]
    convlayer.Convolutional._gradients = gradients  # type: ignore[method-assign]
    pool.MaxPool2D.forward = pooled_forward  # type: ignore[method-assign]
    pool.MaxPool2D._backward = pooled_backward  # type: ignore[method-assign,assignment]
    conv.Convolution._gradient_block = block  # type: ignore[method-assign]


def main() -> None:
    import data
    import nnf_side

    x, y = data.cifar_sized(256, seed=0)
    plain = nnf_side.cifar_sized(0)
    nnf_side.fit(plain, x, y, 1, 64, 0.01, "categorical_crossentropy", 1, momentum=0.9)
    fused = nnf_side.cifar_sized(0)
    install(fused)
    nnf_side.fit(fused, x, y, 1, 64, 0.01, "categorical_crossentropy", 1, momentum=0.9)
    worst = 0.0
    for a, b in zip(plain.layers, fused.layers):
        for name, value in (a.params or {}).items():
            worst = max(worst, float(np.abs(value - b.params[name]).max()))
    print(f"largest weight difference after an epoch, fused vs plain: {worst:.2e}")


if __name__ == "__main__":
    main()
