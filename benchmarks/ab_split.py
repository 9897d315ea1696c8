"""In-process A/B of how ``fit`` uses the cores: unsplit vs split, for the suite's nets.

    python benchmarks/ab_split.py --jobs b,c,g,r --rounds 6
    python benchmarks/ab_split.py --jobs b --batch 32,64,128,256 --variants blas,split

Variants, alternated in one process (order reversed every other round; round 0 warms up):

* ``default``: what nnf does by itself (``fit``'s default ``parallel="auto"``);
* ``blas``: unsplit, BLAS on its own threads (``parallel="single"``);
* ``inner``: unsplit, BLAS on one thread and the layers' own blocks (a convolution's sample
  blocks) on nnf's threads (``parallel="single"`` inside ``threads.parallel_section``), as
  nnf runs a model it may not split (a BatchNorm);
* ``split``: the batch split over every core (worker processes where ``fit`` uses them),
  whatever ``host.min_part`` says (it is patched to ``host.MIN_PART``);
* ``one``: unsplit on one core (BLAS on one thread, no nnf threads): the per-core reference.

Jobs (the suite's nets, data and optimizers, ``jobs.py``): ``b`` tutorial CNN (200 images x
40 epochs), ``c`` LeNet-5 (2,048 MNIST images x 2 epochs), ``g`` CIFAR-sized (4,096 random
images), ``r`` the ResNet (1,024 images; never split: BatchNorm). Every ``fit`` trains on at
least ``nnf.parallel.MIN_PROCESS_SAMPLES`` samples, so a split runs in a worker process as in
the suite. Printed per (job, batch): images/s per variant (median and range over rounds), the
median and range of same-round ratios to the first variant, and what ``default`` chose.
Alternating in one process keeps same-round ratios stable where separate processes on this
shared host vary by +-15%.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import data
import jobs
import nnf_side
from nnf.parallel import blas, host, threads

VARIANTS = ("default", "blas", "inner", "split", "one")


@contextmanager
def _forced_split() -> Iterator[None]:
    original = host.min_part
    host.min_part = lambda layers: host.MIN_PART
    try:
        yield
    finally:
        host.min_part = original


@contextmanager
def _one_core() -> Iterator[None]:
    saved = blas.limit_threads(1)
    busy = getattr(threads._local, "busy", False)
    threads._local.busy = True  # available() is 1: no nnf threads either
    try:
        yield
    finally:
        threads._local.busy = busy
        blas.restore_threads(saved)


def _variant(name: str) -> tuple[str, Callable[[], AbstractContextManager[Any]]]:
    """(fit's ``parallel`` argument, a context to run the fit in) for a variant."""
    table: dict[str, tuple[str, Callable[[], AbstractContextManager[Any]]]] = {
        "default": ("auto", nullcontext),
        "blas": ("single", nullcontext),
        "inner": ("single", threads.parallel_section),
        "split": ("auto", _forced_split),
        "one": ("single", _one_core),
    }
    return table[name]


def _job(name: str) -> tuple[Callable[[], Any], Any, Any, int, Callable[..., float]]:
    """(model builder, x, y, epochs, fit(model, x, y, epochs, batch, parallel)) of a job."""
    s = jobs.SEED
    if name == "b":
        x, y = data.tutorial_zeros_ones(100, seed=s)
        y = y.reshape(len(y), 2)

        def fit_b(m: Any, x: Any, y: Any, e: int, bs: int, parallel: str) -> float:
            return _fit(m, x, y, e, bs, 0.5, "binary_crossentropy", parallel)

        return lambda: nnf_side.tutorial_model(s), x, y, 40, fit_b
    if name == "c":
        x, y = data.mnist_5k()

        def fit_c(m: Any, x: Any, y: Any, e: int, bs: int, parallel: str) -> float:
            return _fit(m, x, y, e, bs, 0.05, "categorical_crossentropy", parallel)

        return lambda: nnf_side.lenet5(s), x[:2048], y[:2048], 2, fit_c
    if name == "g":
        x, y = data.cifar_sized(4096, seed=s)

        def fit_g(m: Any, x: Any, y: Any, e: int, bs: int, parallel: str) -> float:
            return _fit(m, x, y, e, bs, 0.01, "categorical_crossentropy", parallel, 0.9)

        return lambda: nnf_side.cifar_sized(s), x, y, 1, fit_g
    if name == "r":
        x, y = data.cifar_shaped(1024, seed=s)

        def fit_r(m: Any, x: Any, y: Any, e: int, bs: int, parallel: str) -> float:
            from nnf.optimizers import AdamW

            history = m.fit(
                x,
                y,
                epochs=e,
                batch_size=bs,
                optimizer=AdamW(0.001, weight_decay=5e-4, clipnorm=5.0),
                loss="categorical_crossentropy",
                seed=s,
                verbose=0,
                parallel=parallel,
            )
            return float(history["loss"][-1])

        return lambda: nnf_side.resnet(s), x, y, 1, fit_r
    raise SystemExit(f"unknown job {name!r}: use b, c, g or r")


def _fit(
    model: Any,
    x: Any,
    y: Any,
    epochs: int,
    batch: int,
    lr: float,
    loss: str,
    parallel: str,
    momentum: float = 0.0,
) -> float:
    from nnf.optimizers import SGD

    history = model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=batch,
        optimizer=SGD(momentum=momentum) if momentum else "sgd",
        learning_rate=lr,
        loss=loss,
        seed=jobs.SEED,
        verbose=0,
        parallel=parallel,
    )
    return float(history["loss"][-1])


def chosen(model: Any, batch: int) -> str:
    """What nnf's default does for this model and batch, in words."""
    layers = model.layers
    if not host.splittable(layers):
        return "unsplit (a layer needs the whole batch), layers' own blocks on threads"
    parts = host.split_parts(layers, batch)
    least = host.min_part(layers)
    return (
        f"{parts} part(s) (least {least} samples a part)"
        if parts > 1
        else (f"unsplit, BLAS's threads (least {least} samples a part)")
    )


def measure(job: str, batch: int, variants: list[str], rounds: int) -> dict[str, list[float]]:
    build, x, y, epochs, fit = _job(job)
    print(f"\n({job}) batch {batch}: default = {chosen(build(), batch)}", flush=True)
    rates: dict[str, list[float]] = {v: [] for v in variants}
    for r in range(rounds + 1):
        for name in variants if r % 2 == 0 else variants[::-1]:
            parallel, context = _variant(name)
            model = build()
            with context():
                start = time.perf_counter()
                fit(model, x, y, epochs, batch, parallel)
                seconds = time.perf_counter() - start
            if r:
                rates[name].append(epochs * len(x) / seconds)
    base = rates[variants[0]]
    print(f"| variant | images/s median (range) | ratio to {variants[0]}: median (range) |")
    print("|---|---|---|")
    for name in variants:
        v = rates[name]
        ratios = [a / b for a, b in zip(v, base)]
        print(
            f"| {name} | {statistics.median(v):,.0f} ({min(v):,.0f}-{max(v):,.0f}) | "
            f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) |",
            flush=True,
        )
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", default="b,c,g,r")
    parser.add_argument("--batch", default="", help="batch sizes (default: each job's own)")
    parser.add_argument("--variants", default="blas,split,inner")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    variants = args.variants.split(",")
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}: choose from {', '.join(VARIANTS)}")
    own = {"b": 32, "c": 64, "g": 64, "r": 64}
    print(f"{threads.thread_count()} nnf threads, BLAS threads {blas.thread_counts()}")
    for job in args.jobs.split(","):
        batches = [int(b) for b in args.batch.split(",")] if args.batch else [own[job]]
        for batch in batches:
            measure(job, batch, variants, args.rounds)


if __name__ == "__main__":
    main()
