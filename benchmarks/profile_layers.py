"""Where the time goes: per-layer forward and backward time for the benchmark jobs.

    python benchmarks/profile_layers.py [--jobs a,b,c,d] [--side nnf|tutorial] [--cprofile N]

Each layer's ``forward`` and ``backward`` are wrapped with a timer for one run of the job
(after a warm-up run); the rest of the step (loss, optimizer, batching, the Python loop) is
reported as "other". ``--cprofile N`` also prints the N functions with most own time.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import pstats
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jobs

ALIASES = {
    "a": "tutorial_sgd",
    "b": "tutorial_batch32",
    "c": "lenet_train",
    "d": "lenet_infer",
    "g": "cifar_train",
    "h": "cifar_infer",
}


class Timers:
    """Accumulated seconds and call counts per (layer label, phase)."""

    def __init__(self) -> None:
        self.seconds: dict[tuple[str, str], float] = defaultdict(float)
        self.calls: dict[tuple[str, str], int] = defaultdict(int)
        self.order: list[str] = []

    def wrap(self, label: str, phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        if label not in self.order:
            self.order.append(label)

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[label, phase] += time.perf_counter() - t
                self.calls[label, phase] += 1

        return timed


def instrument(layers: list[Any], timers: Timers) -> None:
    """Replace each layer's forward/backward by a timed wrapper (instance attributes)."""
    for i, layer in enumerate(layers):
        label = f"{i} {type(layer).__name__}"
        layer.forward = timers.wrap(label, "forward", layer.forward)
        layer.backward = timers.wrap(label, "backward", layer.backward)
        if hasattr(layer, "backward_parameters"):  # the first layer's backward (no dL/dx)
            layer.backward_parameters = timers.wrap(label, "backward", layer.backward_parameters)


def _layers_of(state: Any) -> list[Any]:
    model = state[0]
    return list(getattr(model, "layers", model))


def profile_job(name: str, side: str, cprofile: int) -> str:
    job = jobs.JOBS[name]
    setup = job.setup(side)
    params = job.params(quick=False)
    job.work(side, job.prepare(side, setup, jobs.warmup_params(job, params)), params)
    state = job.prepare(side, setup, params)
    timers = Timers()
    instrument(_layers_of(state), timers)
    prof = cProfile.Profile() if cprofile else None
    t = time.perf_counter()
    if prof:
        prof.enable()
    result = job.work(side, state, params)
    if prof:
        prof.disable()
    total = time.perf_counter() - t
    lines = [
        f"## {job.title} — {side}: {result['items']} {job.unit} in {total:.2f} s "
        f"({result['items'] / total:,.0f}/s){' under cProfile' if prof else ''}",
        "",
        "| layer | forward ms | backward ms | forward % | backward % |",
        "|---|---|---|---|---|",
    ]
    summed = 0.0
    for label in timers.order:
        f, b = timers.seconds[label, "forward"], timers.seconds[label, "backward"]
        summed += f + b
        lines.append(
            f"| {label} | {f * 1e3:,.0f} | {b * 1e3:,.0f} | {f / total * 100:.1f} | "
            f"{b / total * 100:.1f} |"
        )
    other = total - summed
    lines.append(
        f"| other (loss, optimizer, loop) | {other * 1e3:,.0f} | | {other / total * 100:.1f} | |"
    )
    if prof:
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(cprofile)
        lines += ["", "```", *buf.getvalue().strip().splitlines()[-cprofile - 2 :], "```"]
    return "\n".join(lines)


def _cached_bytes(layer: Any) -> int:
    """Bytes of the arrays a layer keeps after forward (everything but params/grads/state)."""
    import numpy as np

    seen: set[int] = set()
    total = 0
    for key, value in vars(layer).items():
        if key in ("params", "grads", "state") or not isinstance(value, np.ndarray):
            continue
        base = value if value.base is None else value.base
        if isinstance(base, np.ndarray) and id(base) not in seen:
            seen.add(id(base))
            total += base.nbytes
    return total


def memory_report(batch_size: int) -> str:
    """What each LeNet-5 layer still holds after one forward, training and inference."""
    import nnf_side
    import numpy as np

    model = nnf_side.lenet5(jobs.SEED)
    x = np.random.default_rng(0).random((batch_size, 1, 28, 28), dtype=np.float32)
    lines = [
        f"## LeNet-5, batch {batch_size}: arrays kept by each layer after forward (KiB)",
        "",
        "| layer | training=True | training=False |",
        "|---|---|---|",
    ]
    held = {}
    for training in (True, False):
        for layer in model.layers:
            for key in [k for k, v in vars(layer).items() if isinstance(v, np.ndarray)]:
                if key not in ("params", "grads", "state"):
                    setattr(layer, key, None)
        model.forward(x, training=training)
        held[training] = [_cached_bytes(layer) for layer in model.layers]
    for i, layer in enumerate(model.layers):
        lines.append(
            f"| {i} {type(layer).__name__} | {held[True][i] / 1024:,.0f} | "
            f"{held[False][i] / 1024:,.0f} |"
        )
    lines.append(f"| total | {sum(held[True]) / 1024:,.0f} | {sum(held[False]) / 1024:,.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--jobs", default="a,b,c,d", help="comma list of a-d or job names")
    p.add_argument("--side", default="nnf", choices=["nnf", "tutorial"])
    p.add_argument("--cprofile", type=int, default=0, help="print the top N functions by own time")
    p.add_argument("--memory", type=int, default=0, help="LeNet-5 arrays kept per layer at batch N")
    args = p.parse_args(argv)
    if args.memory:
        print(memory_report(args.memory), end="\n\n")
        return 0
    for part in args.jobs.split(","):
        name = ALIASES.get(part.strip(), part.strip())
        if args.side not in jobs.JOBS[name].sides:
            continue
        print(profile_job(name, args.side, args.cprofile), end="\n\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
