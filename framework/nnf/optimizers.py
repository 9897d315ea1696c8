"""Optimizers: SGD (momentum, Nesterov) and Adam, updating parameters in place.

An optimizer sees parameters as ``(path, parameter, gradient)`` triples, where ``path`` is
``"layer_name.param"``; its per-parameter state is keyed by those paths so that it can be
saved in a model file and restored exactly (``state_dict`` / ``load_state_dict``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import attrs
import numpy as np

from .errors import ConfigError

ParamTriple = tuple[str, np.ndarray, np.ndarray]


def _non_negative(_inst: Any, attribute: attrs.Attribute, value: float) -> None:
    if not (value >= 0):  # also rejects NaN
        raise ConfigError(f"optimizer option {attribute.name} must be >= 0, got {value!r}")


def _unit_interval(_inst: Any, attribute: attrs.Attribute, value: float) -> None:
    if not (0 <= value < 1):
        raise ConfigError(f"optimizer option {attribute.name} must be in [0, 1), got {value!r}")


@attrs.define(eq=False)
class Optimizer:
    """Base class: ``step(params)`` applies one update from the gradients."""

    name: ClassVar[str] = ""
    slot_names: ClassVar[tuple[str, ...]] = ()

    learning_rate: float = attrs.field(default=0.01, converter=float, validator=_non_negative)
    weight_decay: float = attrs.field(default=0.0, converter=float, validator=_non_negative)
    iterations: int = attrs.field(default=0, init=False)
    slots: dict[str, dict[str, np.ndarray]] = attrs.field(factory=dict, init=False, repr=False)

    def step(self, params: Iterable[ParamTriple]) -> None:
        """Update every parameter in place. Gradients are used as scratch space: zero them after."""
        self.iterations += 1
        for path, p, g in params:
            self._update(path, p, g)

    def _update(self, path: str, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    def _slot(self, slot: str, path: str, like: np.ndarray) -> np.ndarray:
        table = self.slots.setdefault(slot, {})
        buf = table.get(path)
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
            buf = table[path] = np.zeros_like(like)
        return buf

    def get_config(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in attrs.fields(type(self)) if f.init}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: name, config, step count and per-parameter slots."""
        return {
            "name": self.name,
            "config": self.get_config(),
            "iterations": self.iterations,
            "slots": {s: dict(t) for s, t in self.slots.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()`` output (arrays are copied)."""
        self.iterations = int(state.get("iterations", 0))
        self.slots = {
            str(s): {str(k): np.array(v) for k, v in table.items()}
            for s, table in state.get("slots", {}).items()
        }


@attrs.define(eq=False)
class SGD(Optimizer):
    """p -= lr * (g + wd * p); with momentum v = mu * v + g (PyTorch's convention)."""

    name: ClassVar[str] = "sgd"
    slot_names: ClassVar[tuple[str, ...]] = ("velocity",)

    momentum: float = attrs.field(default=0.0, converter=float, validator=_unit_interval)
    nesterov: bool = attrs.field(default=False, converter=bool)

    def __attrs_post_init__(self) -> None:
        if self.nesterov and self.momentum == 0:
            raise ConfigError("nesterov=True needs momentum > 0 (e.g. momentum=0.9)")

    def _update(self, path: str, p: np.ndarray, g: np.ndarray) -> None:
        if self.weight_decay:
            g += self.weight_decay * p
        if self.momentum:
            v = self._slot("velocity", path, p)
            v *= self.momentum
            v += g
            if self.nesterov:
                g += self.momentum * v
            else:
                g[...] = v
        g *= self.learning_rate
        p -= g


@attrs.define(eq=False)
class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; weight decay is decoupled (AdamW)."""

    name: ClassVar[str] = "adam"
    slot_names: ClassVar[tuple[str, ...]] = ("m", "v")

    learning_rate: float = attrs.field(default=0.001, converter=float, validator=_non_negative)
    beta1: float = attrs.field(default=0.9, converter=float, validator=_unit_interval)
    beta2: float = attrs.field(default=0.999, converter=float, validator=_unit_interval)
    eps: float = attrs.field(default=1e-8, converter=float, validator=_non_negative)

    def _update(self, path: str, p: np.ndarray, g: np.ndarray) -> None:
        m = self._slot("m", path, p)
        v = self._slot("v", path, p)
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        np.square(g, out=g)  # the gradient buffer is scratch from here on
        g *= 1 - self.beta2
        v += g
        t = self.iterations
        step = self.learning_rate * np.sqrt(1 - self.beta2**t) / (1 - self.beta1**t)
        # p -= step * m / (sqrt(v) + eps'), eps scaled so it matches the textbook form
        eps_hat = self.eps * np.sqrt(1 - self.beta2**t)
        np.sqrt(v, out=g)
        g += eps_hat
        np.divide(m, g, out=g)
        g *= step
        if self.weight_decay:
            p *= 1 - self.learning_rate * self.weight_decay
        p -= g


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam}


def get_optimizer(optimizer: str | Optimizer | None = None, **options: Any) -> Optimizer:
    """An optimizer from a name (``"sgd"``, ``"adam"``) and options, or the given instance."""
    if isinstance(optimizer, Optimizer):
        if options:
            raise ConfigError("options cannot be combined with an optimizer instance")
        return optimizer
    name = (optimizer or "adam").lower()
    if name not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {optimizer!r}: use one of {', '.join(OPTIMIZERS)}")
    cls = OPTIMIZERS[name]
    valid = [f.name for f in attrs.fields(cls) if f.init]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(
            f"{cls.__name__} has no option {', '.join(unknown)}; valid options: {', '.join(valid)}"
        )
    options = {k: v for k, v in options.items() if v is not None}
    return cls(**options)


def from_state_dict(state: dict[str, Any]) -> Optimizer:
    """Rebuild an optimizer saved with ``state_dict()``."""
    opt = get_optimizer(state.get("name"), **dict(state.get("config", {})))
    opt.load_state_dict(state)
    return opt
