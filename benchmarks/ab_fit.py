"""In-process A/B of ``fit`` variants, timed per layer: the method behind session 3's notes.

    python benchmarks/ab_fit.py --rounds 9 --batch 32 'base=pass' 'sb16=conv.SUB_BATCH = 16'

Each variant is Python code run before its ``fit`` of one epoch of LeNet-5 on the bundled
MNIST subset, with ``np``, ``conv`` (nnf_layers.kernels.convolution: SUB_BATCH, ...),
``convlayer`` (nnf_layers.convolutional), ``act`` (nnf_layers.activations), ``pool``
(nnf_layers.pooling), ``poolk`` (nnf_layers.kernels.pooling) and ``threads`` (nnf.threads) in
scope; those modules' constants and their classes' methods are restored before every
variant. Variants alternate (order reversed every other round) and the first round is
warm-up. Printed: ms per step for each layer's forward/backward and the whole step, medians,
and the median of same-round ratios against the first variant (< 1: faster).

Separate processes vary by +-15% between runs on this shared host; alternating in one
process brings same-round ratios to 1-3%. Run with ``NNF_NUM_THREADS=1
OPENBLAS_NUM_THREADS=1`` to time one core's work (no split, no BLAS threads).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import data
import nnf_layers.activations as act
import nnf_layers.convolutional as convlayer
import nnf_layers.kernels.convolution as conv
import nnf_layers.kernels.pooling as poolk
import nnf_layers.pooling as pool
import nnf_side
import numpy as np
from nnf import threads

MODULES = (conv, convlayer, act, pool, poolk)


def _snapshot() -> list[tuple[Any, str, Any]]:
    """(owner, name, value) for every module constant and layer-class attribute to restore
    (methods, and flags such as ``act.ReLU.commutes_with_max``)."""
    saved: list[tuple[Any, str, Any]] = []
    for module in MODULES:
        for name, value in vars(module).items():
            if name.isupper():
                saved.append((module, name, value))
            elif isinstance(value, type) and value.__module__ == module.__name__:
                for attr, member in vars(value).items():
                    if not attr.startswith("__"):
                        saved.append((value, attr, member))
    return saved


def _timed(table: dict[tuple[int, str], float], index: dict[int, int]) -> None:
    """Wrap every layer class's forward/backward to add its time to ``table``."""
    classes = {type(layer) for layer in nnf_side.lenet5(0).layers}
    for cls in classes:
        for name in ("forward", "backward"):
            method = getattr(cls, name)

            def wrapper(
                self: Any,
                *args: Any,
                _method: Callable[..., Any] = method,
                _name: str = name,
                **kwargs: Any,
            ) -> Any:
                start = time.perf_counter()
                result = _method(self, *args, **kwargs)
                key = (index.get(id(self), -1), _name)
                table[key] += time.perf_counter() - start
                return result

            setattr(cls, name, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="+", help="name=code; the first is the baseline")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--images", type=int, default=2048)
    args = parser.parse_args()
    variants = [v.split("=", 1) for v in args.variants]
    if any(len(v) != 2 for v in variants):
        parser.error("each variant is name=code")

    x, y = data.mnist_5k()
    x, y = x[: args.images], y[: args.images]
    model = nnf_side.lenet5(1234)
    table: dict[tuple[int, str], float] = defaultdict(float)
    index = {id(layer): i for i, layer in enumerate(model.layers)}
    _timed(table, index)
    saved = _snapshot()
    scope = {
        "np": np,
        "conv": conv,
        "convlayer": convlayer,
        "act": act,
        "pool": pool,
        "poolk": poolk,
        "threads": threads,
    }
    results: dict[str, dict[Any, list[float]]] = {name: defaultdict(list) for name, _ in variants}
    steps = -(-len(x) // args.batch)
    for r in range(args.rounds + 1):
        for name, code in variants if r % 2 == 0 else variants[::-1]:
            for owner, attr, value in saved:
                setattr(owner, attr, value)
            exec(code, dict(scope))
            table.clear()
            start = time.perf_counter()
            nnf_side.fit(model, x, y, 1, args.batch, 0.05, "categorical_crossentropy", 1)
            total = time.perf_counter() - start
            if r:  # round 0 warms up
                for key, seconds in table.items():
                    results[name][key].append(1000 * seconds / steps)
                results[name]["step"].append(1000 * total / steps)
    for owner, attr, value in saved:
        setattr(owner, attr, value)

    base = results[variants[0][0]]
    keys = sorted((k for k in base if k != "step"), key=lambda k: (k[0], k[1] != "forward"))
    print(f"ms per step, median (median same-round ratio to {variants[0][0]})")
    header = ["layer"] + [name for name, _ in variants]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    labels = {i: type(layer).__name__ for i, layer in enumerate(model.layers)}
    for key in [*keys, "step"]:
        label = "step" if key == "step" else f"{key[0]} {labels.get(key[0], '?')} {key[1]}"
        cells = []
        for name, _ in variants:
            values = results[name][key]
            ratios = [a / b for a, b in zip(values, base[key]) if b]
            ratio = statistics.median(ratios) if ratios else float("nan")
            cells.append(f"{statistics.median(values):.3f} ({ratio:.2f})")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
