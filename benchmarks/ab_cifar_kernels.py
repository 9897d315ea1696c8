"""In-process A/B of kernel variants on any benchmark network, timed per layer (session 8).

    NNF_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/ab_cifar_kernels.py \
        --model cifar --cpu-time --rounds 7 'base=pass' 'cols2M=conv.COLUMN_BYTES = 2 << 20'

``benchmarks/ab_fit.py``'s method (same-process alternating variants, order reversed every
other round, round 0 warm-up, module constants, functions and class attributes restored
before every variant) for the CIFAR-sized net (``--model cifar``: random 3x32x32 images,
batch 64, SGD momentum 0.9), LeNet-5 (``lenet5``: the bundled MNIST subset, batch 32), the
tutorial CNN in a batch (``tutorial``) or job (r)'s ResNet (``resnet``), and for inference
(``--predict``: ``Sequential.predict`` in chunks of ``--batch``). In scope for the variants'
code: ``np``, ``conv`` (nnf_layers.kernels.convolution), ``im2col``, ``convlayer``, ``act``,
``elem`` (kernels.elementwise), ``pool``, ``poolk`` (kernels.pooling), ``threads``, ``plan``
(nnf.parallel.plan: ``plan.FUSE.set(False)`` runs the variant unfused; every variant starts
fused), ``model``; convolution plans are made afresh after every variant's code (layouts are
chosen then). A fused conv+pool step (``nnf_layers.conv_pool``) is timed on its
convolution's row (which then holds the pool's work too).

Printed: ms per step (per chunk with --predict) for each layer's forward, backward and
backward_parameters and the whole step, medians, and the median and range of same-round
ratios to the first variant (< 1: faster). ``NNF_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1``
times one core's work; add ``--cpu-time`` to time it by the main thread's CPU clock, which
time spent waiting for a core on a busy host does not inflate (memory-bandwidth contention
still shows).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import data
import nnf_layers.activations as act
import nnf_layers.conv_pool as conv_pool
import nnf_layers.convolutional as convlayer
import nnf_layers.kernels.convolution as conv
import nnf_layers.kernels.elementwise as elem
import nnf_layers.kernels.im2col as im2col
import nnf_layers.kernels.pooling as poolk
import nnf_layers.pooling as pool
import nnf_side
import numpy as np
from nnf.parallel import plan, threads

MODULES = (conv, im2col, convlayer, act, elem, pool, poolk)


def _snapshot() -> list[tuple[Any, str, Any]]:
    """(owner, name, value) for every module constant, function and class attribute (a
    variant may replace any of them)."""
    saved: list[tuple[Any, str, Any]] = []
    for module in MODULES:
        for name, value in vars(module).items():
            if name.isupper() or callable(value):
                saved.append((module, name, value))
            if isinstance(value, type) and value.__module__ == module.__name__:
                for attr, member in vars(value).items():
                    if not attr.startswith("__"):
                        saved.append((value, attr, member))
    return saved


CLOCK = time.perf_counter


def _timed(model: Any, table: dict[tuple[int, str], float], index: dict[int, int]) -> None:
    """Wrap every layer class's forward, backward and backward_parameters (the first layer's
    backward) to add its time (``CLOCK``) to ``table``."""
    for cls in {type(layer) for layer in model.layers} | {conv_pool.ConvPool}:
        for name in ("forward", "backward", "backward_parameters"):
            method = getattr(cls, name)

            def wrapper(
                self: Any,
                *args: Any,
                _method: Callable[..., Any] = method,
                _name: str = name,
                **kwargs: Any,
            ) -> Any:
                start = CLOCK()
                result = _method(self, *args, **kwargs)
                owner = getattr(self, "conv", self)  # a fused step: its convolution's row
                table[index.get(id(owner), -1), _name] += CLOCK() - start
                return result

            setattr(cls, name, wrapper)


def _setup(name: str, images: int) -> tuple[Any, np.ndarray, np.ndarray, float, str]:
    """(model, x, y, learning rate, loss) of a benchmark network."""
    if name == "cifar":
        x, y = data.cifar_sized(images, seed=0)
        return nnf_side.cifar_sized(0), x, y, 0.01, "categorical_crossentropy"
    if name == "lenet5":
        x, y = data.mnist_5k()
        return nnf_side.lenet5(1234), x[:images], y[:images], 0.05, "categorical_crossentropy"
    if name == "tutorial":
        x, y = data.tutorial_zeros_ones()
        x, y = data.tiled(x, images), data.tiled(y, images).reshape(images, -1)
        return nnf_side.tutorial_model(0), x, y, 0.5, "binary_crossentropy"
    if name == "resnet":
        x, y = data.cifar_shaped(images, seed=0)
        return nnf_side.resnet(0), x, y, 0.01, "categorical_crossentropy"
    raise SystemExit(f"unknown --model {name!r}: use cifar, lenet5, tutorial or resnet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="+", help="name=code; the first is the baseline")
    parser.add_argument("--model", default="cifar", help="cifar, lenet5, tutorial or resnet")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--predict", action="store_true", help="time inference, not fit")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time with the main thread's CPU clock (one thread: steadier on a busy host)",
    )
    args = parser.parse_args()
    if args.cpu_time:
        global CLOCK
        CLOCK = time.thread_time
    variants = [v.split("=", 1) for v in args.variants]
    if any(len(v) != 2 for v in variants):
        parser.error("each variant is name=code")

    model, x, y, lr, loss = _setup(args.model, args.images)
    table: dict[tuple[int, str], float] = defaultdict(float)
    index = {id(layer): i for i, layer in enumerate(model.layers)}
    _timed(model, table, index)
    saved = _snapshot()
    scope = {
        "np": np,
        "conv": conv,
        "im2col": im2col,
        "convlayer": convlayer,
        "act": act,
        "elem": elem,
        "pool": pool,
        "poolk": poolk,
        "threads": threads,
        "plan": plan,
    }
    results: dict[str, dict[Any, list[float]]] = {name: defaultdict(list) for name, _ in variants}
    steps = -(-len(x) // args.batch)
    for r in range(args.rounds + 1):
        for name, code in variants if r % 2 == 0 else variants[::-1]:
            for owner, attr, value in saved:
                setattr(owner, attr, value)
            plan.FUSE.set(True)
            exec(code, dict(scope, model=model))
            for layer in model.layers:  # fresh plans: layout choices are made when built
                if isinstance(layer, convlayer.Convolutional):
                    layer._plan = conv.Convolution(layer._plan.geo, layer.dtype)
            table.clear()
            start = CLOCK()
            if args.predict:
                model.predict(x, batch_size=args.batch)
            else:
                nnf_side.fit(model, x, y, 1, args.batch, lr, loss, 1, momentum=0.9)
            total = CLOCK() - start
            if r:  # round 0 warms up
                for key, seconds in table.items():
                    results[name][key].append(1000 * seconds / steps)
                results[name]["step"].append(1000 * total / steps)
    for owner, attr, value in saved:
        setattr(owner, attr, value)

    base = results[variants[0][0]]
    keys = sorted((k for k in base if k != "step"), key=lambda k: (k[0], k[1] != "forward"))
    first = variants[0][0]
    ratio = f"same-round ratio to {first}: median [min-max]"
    print(f"ms per step, median ({ratio}), {args.rounds} rounds")
    header = ["layer"] + [name for name, _ in variants]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    labels = {i: type(layer).__name__ for i, layer in enumerate(model.layers)}
    for key in [*keys, "step"]:
        label = "step" if key == "step" else f"{key[0]} {labels.get(key[0], '?')} {key[1]}"
        cells = []
        for name, _ in variants:
            values = results[name][key]
            ratios = [a / b for a, b in zip(values, base[key]) if b]
            if not values:  # a variant that replaced the timed method
                cells.append("—")
            elif name == first or not ratios:
                cells.append(f"{statistics.median(values):.3f}")
            else:
                cells.append(
                    f"{statistics.median(values):.3f} ({statistics.median(ratios):.2f} "
                    f"[{min(ratios):.2f}-{max(ratios):.2f}])"
                )
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
