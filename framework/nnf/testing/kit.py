"""``check_layer``: run every conformance check on a layer class and report all failures at once."""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from ..layer import Layer, as_shape
from .case import Case, CheckFailed
from .checks import CHECKS, NEED_SHAPES


@attrs.define
class LayerReport:
    """What ``check_layer`` verified: the checks run and skipped, measured figures, notes.

    ``figures`` holds e.g. ``gradient.training.weights`` (relative error of that gradient) and
    ``modes.stochastic_in_training`` (1.0 when training draws random numbers).
    """

    key: str
    config: dict[str, Any]
    input_shape: tuple[int, ...]
    passed: list[str] = attrs.Factory(list)
    failed: dict[str, str] = attrs.Factory(dict)
    skipped: list[str] = attrs.Factory(list)
    figures: dict[str, float] = attrs.Factory(dict)
    notes: list[str] = attrs.Factory(list)

    def __str__(self) -> str:
        lines = [
            f"{self.key} {self.config} on input {self.input_shape}: "
            f"{len(self.passed)} passed, {len(self.failed)} failed, {len(self.skipped)} skipped"
        ]
        lines += [f"  FAILED {name}: {message}" for name, message in self.failed.items()]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


class LayerCheckError(AssertionError):
    """A layer broke the contract; ``report.failed`` maps each failed check to its message."""

    def __init__(self, report: LayerReport) -> None:
        n = len(report.failed)
        lines = [
            f"check_layer: {report.key} {report.config} on input {report.input_shape} failed "
            f"{n} check{'s' if n != 1 else ''}:"
        ]
        lines += [f"  [{name}] {message}" for name, message in report.failed.items()]
        super().__init__("\n".join(lines))
        self.report = report


@contextlib.contextmanager
def _resolvable(cls: type[Layer]) -> Iterator[None]:
    """Register ``cls`` under its key for the duration, unless the registry already knows it."""
    from ..registry import REGISTRY

    if REGISTRY.entry(cls.key) is not None:
        yield
        return
    REGISTRY.register(cls)
    try:
        yield
    finally:
        REGISTRY.unregister(cls.key)


def _describe(exc: BaseException) -> str:
    """One line: the exception and where it was raised (the layer's own code, usually)."""
    if isinstance(exc, CheckFailed):
        return str(exc)
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return f"raised {type(exc).__name__}: {exc}{where}"


def check_layer(
    layer_class: type[Layer],
    config: Mapping[str, Any] | None,
    input_shape: Sequence[int] | int,
    *,
    batch_size: int = 3,
    inputs: np.ndarray | None = None,
    seed: int = 0,
    tolerance: float = 1e-6,
    eps: float = 1e-6,
    max_entries: int | None = 256,
    learning_rate: float = 0.1,
    skip: Iterable[str] = (),
) -> LayerReport:
    """Check ``layer_class(**config)`` on samples shaped ``input_shape`` against the layer contract.

    Runs every check of ``nnf.testing.CHECKS`` (naming, config, shapes, dtype, batch, gradient,
    sgd, modes, save_load, replica, max_order) and raises ``LayerCheckError`` naming each failed
    one; returns a ``LayerReport`` otherwise.

    ``inputs``: a batch ``(N, *input_shape)`` to use instead of standard normal draws (e.g.
    positive values for a log layer, or values away from a kink). ``tolerance``: largest
    relative error of the float64 gradient check, with central differences of step ``eps``
    on at most ``max_entries`` entries per array (None: all). ``skip``: names of checks not to
    run, e.g. ``("batch",)`` for a layer that mixes samples on purpose.
    """
    skip = set(skip)
    unknown = skip - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown check(s) {sorted(unknown)}; the checks are {list(CHECKS)}")
    input_shape = as_shape(input_shape, "input_shape")
    if inputs is not None:
        inputs = np.asarray(inputs, dtype=np.float64)
        if inputs.shape[1:] != input_shape:
            raise ValueError(f"inputs are shaped {inputs.shape}, not (N, *{input_shape})")
    case = Case(
        cls=layer_class,
        config=dict(config or {}),
        input_shape=input_shape,
        batch_size=int(inputs.shape[0]) if inputs is not None else batch_size,
        seed=seed,
        tolerance=tolerance,
        eps=eps,
        max_entries=max_entries,
        learning_rate=learning_rate,
        inputs=inputs,
    )
    report = LayerReport(
        key=getattr(layer_class, "key", "") or getattr(layer_class, "__name__", "?"),
        config=case.config,
        input_shape=input_shape,
    )
    global_rng = np.random.get_state()  # the checks reseed NumPy's global RNG; put it back
    try:
        for name, check in CHECKS.items():
            if name in skip:
                report.skipped.append(name)
                continue
            if name in NEED_SHAPES and "shapes" in report.failed:
                report.skipped.append(name)
                continue
            try:
                if name == "save_load":
                    with _resolvable(layer_class):
                        check(case)
                else:
                    check(case)
            except Exception as exc:
                report.failed[name] = _describe(exc)
            else:
                report.passed.append(name)
    finally:
        np.random.set_state(global_rng)
    report.figures, report.notes = case.figures, case.notes
    if report.failed:
        raise LayerCheckError(report)
    return report
