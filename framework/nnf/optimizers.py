"""Optimizers: SGD (momentum, Nesterov), Adam, AdamW and RMSprop, updating parameters in place.

An optimizer sees parameters as ``(path, parameter, gradient)`` triples, where ``path`` is
``"layer_name.param"``; its per-parameter state is keyed by those paths so that it can be
saved in a model file and restored exactly (``state_dict`` / ``load_state_dict``).

Every optimizer takes the gradient-clipping options ``clipnorm`` and ``clipvalue``, applied
to the step's gradients before the update (in that order, as Keras does):

    clipnorm = c:   norm = sqrt(sum over all parameters of sum(g^2));  g *= c / norm if norm > c
    clipvalue = c:  g = clip(g, -c, c), element by element

``clipnorm`` is the *global* norm over every parameter together (PyTorch's
``clip_grad_norm_``, Keras's ``global_clipnorm``): clipping keeps the step's direction.
Weight decay is applied after clipping, so it is never clipped away.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, ClassVar

import attrs
import numpy as np

from .errors import ConfigError

ParamTriple = tuple[str, np.ndarray, np.ndarray]


def _non_negative(_inst: Any, attribute: attrs.Attribute, value: float) -> None:
    if not (value >= 0):  # also rejects NaN
        raise ConfigError(f"optimizer option {attribute.name} must be >= 0, got {value!r}")


def _optional_positive(_inst: Any, attribute: attrs.Attribute, value: float | None) -> None:
    if value is not None and not (value > 0 and np.isfinite(value)):
        raise ConfigError(
            f"optimizer option {attribute.name} must be a number > 0 (or unset), got {value!r}"
        )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _non_negative_or_default(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None:  # None: the class's default, filled in after __init__
        _non_negative(_inst, attribute, value)


def _unit_interval(_inst: Any, attribute: attrs.Attribute, value: float) -> None:
    if not (0 <= value < 1):
        raise ConfigError(f"optimizer option {attribute.name} must be in [0, 1), got {value!r}")


@attrs.define(eq=False)
class Optimizer:
    """Base class: ``step(params)`` applies one update from the gradients."""

    name: ClassVar[str] = ""
    slot_names: ClassVar[tuple[str, ...]] = ()
    # Defaults per class; the fields themselves are declared here once so that every
    # optimizer takes (learning_rate, weight_decay) as its first two positional arguments.
    default_learning_rate: ClassVar[float] = 0.01
    default_weight_decay: ClassVar[float] = 0.0

    learning_rate: float = attrs.field(
        default=None, converter=_optional_float, validator=_non_negative_or_default
    )
    weight_decay: float = attrs.field(
        default=None, converter=_optional_float, validator=_non_negative_or_default
    )
    clipnorm: float | None = attrs.field(
        default=None, converter=_optional_float, validator=_optional_positive, kw_only=True
    )
    clipvalue: float | None = attrs.field(
        default=None, converter=_optional_float, validator=_optional_positive, kw_only=True
    )
    iterations: int = attrs.field(default=0, init=False)
    slots: dict[str, dict[str, np.ndarray]] = attrs.field(factory=dict, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.learning_rate is None:
            self.learning_rate = type(self).default_learning_rate
        if self.weight_decay is None:
            self.weight_decay = type(self).default_weight_decay

    def step(self, params: Iterable[ParamTriple]) -> None:
        """Update every parameter in place. Gradients are used as scratch space: zero them after."""
        self.iterations += 1
        if self.clipnorm is not None or self.clipvalue is not None:
            params = list(params)  # clipping by the global norm looks at every gradient first
            self._clip([g for _, _, g in params])
        for path, p, g in params:
            self._update(path, p, g)

    def plain_rate(self) -> float | None:
        """``lr`` when this optimizer's step is exactly ``p -= lr * g`` for every parameter,
        with no clipping, decay or state (then the layers may take it during backward,
        ``Layer.backward(g, learning_rate)``); else None."""
        return None

    def count_step(self) -> None:
        """Count a step that the layers took themselves (see ``plain_rate``)."""
        self.iterations += 1

    def _clip(self, grads: list[np.ndarray]) -> None:
        """Scale the gradients to global norm <= clipnorm, then clip each to +-clipvalue."""
        if self.clipnorm is not None:
            # Summed in float64 in parameter order: the same gradients give the same scale.
            norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
            if norm > self.clipnorm:
                scale = self.clipnorm / norm
                for g in grads:
                    g *= g.dtype.type(scale)
        if self.clipvalue is not None:
            for g in grads:
                np.clip(g, -self.clipvalue, self.clipvalue, out=g)

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
        super().__attrs_post_init__()
        if self.nesterov and self.momentum == 0:
            raise ConfigError("nesterov=True needs momentum > 0 (e.g. momentum=0.9)")

    def plain_rate(self) -> float | None:
        plain = not (self.momentum or self.weight_decay or self.clipnorm or self.clipvalue)
        # a subclass's own update or step must run: it may differ from p -= lr * g
        own = type(self)._update is SGD._update and type(self).step is Optimizer.step
        return float(self.learning_rate) if plain and own else None

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
    default_learning_rate: ClassVar[float] = 0.001
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


@attrs.define(eq=False)
class AdamW(Adam):
    """AdamW (Loshchilov & Hutter): Adam whose weight decay shrinks the weights directly.

        m = b1 m + (1 - b1) g          v = b2 v + (1 - b2) g^2          (t = step count)
        p <- p (1 - lr wd) - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

    The decay term never goes through m and v, so every weight decays at the same rate
    whatever its gradient's history (with L2 in the loss, weights with large gradients
    would decay less). Defaults as PyTorch's ``AdamW``: lr 0.001, weight decay 0.01.
    (nnf's ``Adam`` applies its ``weight_decay`` the same way; it defaults to 0.)
    """

    name: ClassVar[str] = "adamw"
    default_weight_decay: ClassVar[float] = 0.01


@attrs.define(eq=False)
class RMSprop(Optimizer):
    """RMSprop (Hinton): divide each step by a running root mean square of the gradients.

        v = rho v + (1 - rho) g^2                   (centered: a = rho a + (1 - rho) g,
        d = g / (sqrt(v) + eps)                                 d = g / (sqrt(v - a^2) + eps))
        p -= lr d,  or with momentum mu:  b = mu b + d,  p -= lr b

    ``weight_decay`` adds ``wd * p`` to the gradient first (L2, as in PyTorch's RMSprop).
    Defaults as Keras's: lr 0.001, rho 0.9, eps 1e-7.
    """

    name: ClassVar[str] = "rmsprop"
    slot_names: ClassVar[tuple[str, ...]] = ("v", "mean_gradient", "velocity")
    default_learning_rate: ClassVar[float] = 0.001
    rho: float = attrs.field(default=0.9, converter=float, validator=_unit_interval)
    momentum: float = attrs.field(default=0.0, converter=float, validator=_unit_interval)
    eps: float = attrs.field(default=1e-7, converter=float, validator=_non_negative)
    centered: bool = attrs.field(default=False, converter=bool)

    def _update(self, path: str, p: np.ndarray, g: np.ndarray) -> None:
        if self.weight_decay:
            g += self.weight_decay * p
        v = self._slot("v", path, p)
        v *= self.rho
        v += (1 - self.rho) * np.square(g)
        if self.centered:
            a = self._slot("mean_gradient", path, p)
            a *= self.rho
            a += (1 - self.rho) * g
            denominator = v - np.square(a)
        else:
            denominator = v.copy()
        np.sqrt(denominator, out=denominator)
        denominator += self.eps
        g /= denominator  # the gradient buffer now holds the step direction d
        if self.momentum:
            b = self._slot("velocity", path, p)
            b *= self.momentum
            b += g
            g[...] = b
        g *= self.learning_rate
        p -= g


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
}


def get_optimizer(optimizer: str | Optimizer | None = None, **options: Any) -> Optimizer:
    """An optimizer from a name (``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``) and
    options, or the given instance."""
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
