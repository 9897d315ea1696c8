"""The layer contract (version 2) that every built-in and plugin layer follows.

A layer is an attrs class whose fields are its JSON-safe configuration. Everything
else (parameters, gradients) is runtime state created by ``build``.

    @attrs.define(eq=False)
    class Scale(nnf.Layer):
        key = "acme.Scale.v1"          # namespace.Name.vN, also the entry-point name
        keeps = ()                     # kept by forward besides input/output: none
        factor: float = 1.0

        def forward(self, x, training=False):    # (N, *in_shape) -> (N, *out_shape)
            self.input = x
            return x * self.factor

        def _backward(self, output_gradient):     # accumulates self.grads, returns dL/dx
            return output_gradient * self.factor

What forward keeps for backward (``input``, ``output`` and the names in ``keeps``) is stored
per thread: two threads running one layer each see their own, so a model can serve many
threads at once. Work buffers come from ``nnf.workspace`` (per thread), never from ``self``.
A layer with parameters also overrides ``_build(input_shape, rng, dtype)``, which creates
``self.params`` and returns the output shape. Shapes are sample shapes, without the batch axis.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from operator import attrgetter
from typing import Any, ClassVar

import attrs
import numpy as np

from .errors import ConfigError, NotBuiltError, ShapeError
from .keys import KEY_PATTERN, is_key, parse_key

__all__ = [
    "CONTRACT_VERSION",
    "KEY_PATTERN",
    "Layer",
    "Shape",
    "backward_chain",
    "deferred_build",
    "forgetting",
    "init_array",
    "is_key",
    "parse_key",
]

# Version of the plugin contract described in docs/plugins.md. 2: per-call state declared
# (``keeps``) and kept per thread, work buffers outside the layer, ``backward_parameters``
# instead of the ``needs_input_gradient`` switch.
CONTRACT_VERSION = 2

Shape = tuple[int, ...]

DTYPES = ("float32", "float64")


def as_shape(shape: Any, what: str = "shape") -> Shape:
    """Normalise a shape given as an int, list or tuple to a tuple of positive ints."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    bad = ShapeError(f"{what} must be a tuple of positive integers, got {shape!r}")
    if isinstance(shape, (str, bytes)):  # "784" would otherwise become (7, 8, 4)
        raise bad
    try:
        dims = list(shape)
        out = tuple(int(d) for d in dims)
    except (TypeError, ValueError):
        raise bad from None
    if any(isinstance(d, bool) or d != o or o <= 0 for d, o in zip(dims, out)):
        raise bad  # booleans, 28.9 or non-positive sizes
    return out


def _json_safe(value: Any) -> Any:
    """Tuples become lists and NumPy scalars become Python numbers, so configs survive JSON."""
    if isinstance(value, (tuple, list)):
        return [_json_safe(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


_EAGER_BUILD: ContextVar[bool] = ContextVar("nnf_eager_build", default=True)
_ZERO_INIT: ContextVar[bool] = ContextVar("nnf_zero_init", default=False)  # see replica()


@contextmanager
def placeholder_weights() -> Iterator[None]:
    """Layers built in this block get zeros from ``init_array``: no random draws (a summary
    of an unbuilt model, a replica about to receive shared weights)."""
    token = _ZERO_INIT.set(True)
    try:
        yield
    finally:
        _ZERO_INIT.reset(token)


@contextmanager
def deferred_build() -> Iterator[None]:
    """Layers created in this block do not build in ``__init__`` even when their config fixes
    the input shape: a loader builds them later, after checking sizes against the file."""
    token = _EAGER_BUILD.set(False)
    try:
        yield
    finally:
        _EAGER_BUILD.reset(token)


class _Kept(threading.local):
    """What forward keeps for backward, one namespace per thread (see ``Layer.keeps``)."""


class _KeptByOne:
    """The same for a replica, which belongs to one part of a split batch: that part's
    forward and backward may run on different pool threads, one after the other."""


def _kept_attribute(name: str) -> property:
    """``self.<name>`` read from and written to the calling thread's namespace.

    The getter is ``attrgetter`` (C, no Python frame): it is read in every backward.
    """

    def fset(layer: Layer, value: Any) -> None:
        setattr(layer._kept, name, value)

    def fdel(layer: Layer) -> None:
        delattr(layer._kept, name)

    doc = f"``{name}`` as the last forward on this thread kept it (per thread)."
    return property(attrgetter(f"_kept.{name}"), fset, fdel, doc)


@contextmanager
def forgetting(layers: Iterable[Layer]) -> Iterator[None]:
    """A block after which ``layers`` keep nothing from the calls this thread made in it:
    ``predict`` and ``evaluate`` run in one, so a server's threads do not each pin a batch of
    activations after their call."""
    try:
        yield
    finally:
        for layer in layers:
            layer.forget()


def backward_chain(
    layers: list[Layer], output_gradient: np.ndarray, learning_rate: float | None = None
) -> None:
    """Back-propagate through ``layers`` (in forward order) for their parameter gradients
    only: nothing consumes the first layer's dL/dx, so it runs ``backward_parameters``.
    With ``learning_rate``, each layer applies the tutorial's plain SGD step instead
    (``Layer.backward``), leaving its ``grads`` zero."""
    grad = output_gradient
    rate = () if learning_rate is None else (learning_rate,)  # plain calls without a rate
    for layer in reversed(layers[1:]):
        grad = layer.backward(grad, *rate)
    if layers:
        layers[0].backward_parameters(grad, *rate)


def legacy_seeded_rng() -> np.random.Generator:
    """A Generator seeded from NumPy's global RNG, so ``np.random.seed`` governs tutorial code."""
    return np.random.default_rng(np.random.randint(0, 2**31 - 1))


class Layer:
    """Base class of every layer.

    Class attributes: ``key`` (registry key ``namespace.Name.vN``) and ``version`` (the
    version of the layer's saved state, used to migrate old files).

    Runtime attributes: ``params`` and ``grads`` (dicts with the same keys), ``state``
    (non-trainable arrays saved with the model, e.g. running statistics), ``in_shape`` and
    ``out_shape`` (sample shapes, set by ``build``), ``name`` (given by the model), ``rng``
    (a Generator for layers that draw random numbers while training) and ``dtype``.

    Per-call attributes: ``input``, ``output`` and the names in ``keeps``, written by forward
    for backward. Each thread has its own (see ``_kept_attribute``); ``forget()`` drops the
    calling thread's.
    """

    key: ClassVar[str] = ""
    version: ClassVar[int] = 1
    # Names besides ``input`` and ``output`` that forward keeps for backward, e.g. ("mask",).
    # Declaring it (even as ``()``) says the layer follows contract 2: it writes nothing else
    # on ``self`` while computing, so threads may share it. None (contract 1, undeclared):
    # the model serialises inference through such a layer (see ``Sequential.predict``).
    keeps: ClassVar[tuple[str, ...] | None] = None
    # True when forward/backward treat every sample on its own and training writes no
    # ``state``: a batch may then be split over replicas (``replica``) run on several threads,
    # their parameter gradients summed. Off by default: batch statistics (BatchNorm) break it.
    samples_independent: ClassVar[bool] = False
    # A pair that a model may run in either order with the same results (``nnf.parallel.plan``): a
    # ``commutes_with_max`` layer is element-wise and non-decreasing, f(max(a, b)) ==
    # max(f(a), f(b)) exactly, and its backward multiplies by an f' that is 0 wherever f is
    # flat (ReLU); a ``takes_maxima`` layer outputs maxima of fixed groups of its inputs and
    # routes each output's gradient to one of the inputs holding it (MaxPool2D). The element-
    # wise layer then runs after the maxima are taken, on fewer values.
    commutes_with_max: ClassVar[bool] = False
    takes_maxima: ClassVar[bool] = False
    # The loss that suits a model ending in this layer (a name for ``nnf.losses.get_loss``),
    # or None: ``nnf.losses.default_loss`` reads it for ``fit`` and ``nnf train``.
    # "binary_crossentropy" applies to a single output only (several outputs then get mse).
    default_loss: ClassVar[str | None] = None
    # Optional: the layer's output is softmax(input) over its class axis. As a model's last
    # layer trained with categorical cross-entropy, fit then back-propagates (p - y) / N
    # straight into its input and skips its backward (fewer operations, better rounding).
    fuses_with_cross_entropy: ClassVar[bool] = False

    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    state: dict[str, np.ndarray]
    in_shape: Shape | None
    out_shape: Shape | None
    name: str | None
    rng: np.random.Generator | None
    dtype: np.dtype
    # Contract 1 let a layer skip dL/dx while this was False; contract 2 calls
    # ``backward_parameters`` instead. Always True, for contract-1 plugins that still read it.
    needs_input_gradient: ClassVar[bool] = True
    _kept: _Kept | _KeptByOne
    input = _kept_attribute("input")
    output = _kept_attribute("output")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls.__dict__.get("keeps") or ():
            if not isinstance(getattr(cls, name, None), property):
                setattr(cls, name, _kept_attribute(name))

    def __new__(cls, *args: Any, **kwargs: Any) -> Layer:
        # Runtime state lives outside the attrs fields, so even a plain (non-attrs) subclass
        # written tutorial-style has it without calling super().__init__().
        self = super().__new__(cls)
        self._kept = _Kept()
        self.params, self.grads, self.state = {}, {}, {}
        self.in_shape = self.out_shape = None
        self.name = None
        self.rng = None
        self.dtype = np.dtype("float32")
        return self

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: say why a kept attribute is missing.
        kept = ("input", "output", *(type(self).keeps or ()))
        if name in kept and "_kept" in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__} has no {name!r} kept on this thread: call forward "
                "before backward, on the same thread (predict and evaluate keep nothing)"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @classmethod
    def reentrant(cls) -> bool:
        """Whether threads may call this layer at once (it declares ``keeps``: contract 2)."""
        return cls.keeps is not None

    def forget(self) -> None:
        """Drop what forward kept for backward on the calling thread."""
        self._kept.__dict__.clear()

    def __attrs_post_init__(self) -> None:
        # Tutorial-style construction (Dense(784, 100)) gives every size: build right away
        # so the layer can be used without a model, like the tutorial's layers.
        shape = self.declared_input_shape()
        if shape is not None and _EAGER_BUILD.get():
            self.build(shape)

    # ----------------------------------------------------------------- building
    @property
    def built(self) -> bool:
        return self.out_shape is not None

    def declared_input_shape(self) -> Shape | None:
        """The input sample shape fixed by the configuration, or None if it is inferred."""
        return None

    def build(
        self,
        input_shape: Any,
        rng: np.random.Generator | None = None,
        dtype: Any = "float32",
    ) -> Shape:
        """Create the parameters for samples of ``input_shape``; return the output sample shape.

        ``rng`` makes initialisation reproducible; ``dtype`` is float32 or float64.
        """
        input_shape = as_shape(input_shape, f"input shape of {self.label}")
        self.dtype = np.dtype(dtype)
        if self.dtype.name not in DTYPES:
            raise ConfigError(f"dtype {self.dtype.name!r} is not supported: use one of {DTYPES}")
        rng = rng if rng is not None else legacy_seeded_rng()
        self.params, self.grads, self.state = {}, {}, {}
        out_shape = as_shape(self._build(input_shape, rng, self.dtype), f"output of {self.label}")
        self.grads = {k: np.zeros_like(p) for k, p in self.params.items()}
        self.in_shape, self.out_shape = input_shape, out_shape
        return out_shape

    def _build(self, input_shape: Shape, rng: np.random.Generator, dtype: np.dtype) -> Shape:
        """Create ``self.params`` (and ``self.state``); return the output shape (default: same)."""
        return input_shape

    def adopt(self, input_shape: Any, dtype: Any) -> Shape:
        """Fit a built layer to ``input_shape`` and ``dtype`` keeping its weights (the same
        arrays, cast if the dtype differs): a model adopting a layer trained on its own
        (a tutorial ``Dense(2, 3)`` built for rows, fed columns) loses nothing. Returns the
        output shape; ``ShapeError`` if the weights do not fit that input."""
        self.require_built()
        if as_shape(input_shape) == self.in_shape and np.dtype(dtype) == self.dtype:
            return self.out_shape or ()
        old_shape, params, state = self.in_shape, self.params, self.state

        def rebuild(shape: Any) -> Shape:
            with placeholder_weights():  # replaced by the kept arrays
                return self.build(shape, rng=np.random.default_rng(0), dtype=self.dtype)

        problem = None
        try:
            out = rebuild(input_shape)
            for kept, fresh in ((params, self.params), (state, self.state)):
                if {k: v.shape for k, v in kept.items()} != {k: v.shape for k, v in fresh.items()}:
                    problem = "which do not fit"
        except (ShapeError, ConfigError) as exc:
            problem = f"which do not fit ({exc})"
        if problem is not None:
            rebuild(old_shape)
            self.params, self.state = params, state
            self.grads = {k: np.zeros_like(p) for k, p in params.items()}
            raise ShapeError(
                f"{self.label} holds weights for inputs shaped {old_shape}, {problem} inputs "
                f"shaped {tuple(as_shape(input_shape))}: give the model input_shape={old_shape}"
            )
        self.params, self.state = params, state
        if np.dtype(dtype) != self.dtype:
            self.cast(dtype)
        else:
            self.grads = {k: np.zeros_like(p) for k, p in params.items()}
        return out

    def cast(self, dtype: Any) -> None:
        """Convert parameters, gradients and state to ``dtype`` (float32 or float64)."""
        self.dtype = np.dtype(dtype)
        for table in (self.params, self.grads, self.state):
            for k, v in table.items():
                if v.dtype.kind == "f":
                    table[k] = v.astype(self.dtype)

    # ---------------------------------------------------------- forward/backward
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Map a batch ``(N, *in_shape)`` to ``(N, *out_shape)``; keep what backward needs."""
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def _backward(self, output_gradient: np.ndarray) -> np.ndarray:
        """Return dL/dinput for dL/doutput; add parameter gradients into ``self.grads``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _backward()")

    def backward(
        self, output_gradient: np.ndarray, learning_rate: float | None = None
    ) -> np.ndarray:
        """Back-propagate ``output_gradient`` (shaped like the last output).

        Returns the input gradient and accumulates parameter gradients in ``self.grads``.
        With ``learning_rate`` (the tutorial's call) it instead applies one plain SGD step
        from this call's gradient alone, leaving ``self.grads`` zero.
        """
        if learning_rate is None:
            return self._backward(output_gradient)
        return self._backward_sgd(output_gradient, float(learning_rate))

    def backward_parameters(
        self, output_gradient: np.ndarray, learning_rate: float | None = None
    ) -> None:
        """``backward`` for a layer whose dL/dinput nobody uses (a model's first layer): the
        parameter gradients (or, with ``learning_rate``, the SGD step) without dL/dinput."""
        if not self.params:
            return  # nothing to accumulate, and nobody wants dL/dinput
        if learning_rate is None:
            self._backward_parameters(output_gradient)
            return
        self.zero_grad()
        self._backward_parameters(output_gradient)
        self._apply_sgd(float(learning_rate))

    def _backward_parameters(self, output_gradient: np.ndarray) -> None:
        """Optional speed hook: add parameter gradients into ``self.grads`` without computing
        dL/dinput. The default runs ``_backward`` and drops its result."""
        self._backward(output_gradient)

    def _backward_sgd(self, output_gradient: np.ndarray, learning_rate: float) -> np.ndarray:
        """Tutorial path: backward then ``p -= lr * g``. Optional speed hook: a layer may
        fuse it, leaving ``self.grads`` zero."""
        self.zero_grad()
        input_gradient = self._backward(output_gradient)
        self._apply_sgd(learning_rate)
        return input_gradient

    def _apply_sgd(self, learning_rate: float) -> None:
        """``p -= lr * g`` for every parameter, leaving ``self.grads`` zero."""
        for k, p in self.params.items():
            g = self.grads[k]
            g *= learning_rate
            p -= g
            g.fill(0)

    def replica(self) -> Layer:
        """A twin for another thread or worker process: the same config and the *same*
        ``params`` and ``state`` dicts (updates show in both), but its own ``grads`` and
        kept attributes. Those are not per thread: a twin serves one part of a split batch,
        whose forward and backward may run on two pool threads one after the other.

        Used by ``fit``/``predict`` for layers with ``samples_independent``; in a worker
        process, ``params[k]`` already holds shared-memory arrays when this is called. The
        default rebuilds the layer from its config (no weights drawn); override it if
        ``_build`` keeps references to its parameter arrays outside ``params``.
        """
        self.require_built()
        with deferred_build():
            twin = type(self).from_config(self.get_config())
        token = _ZERO_INIT.set(True)  # the twin's own weights are dropped: skip drawing them
        try:
            twin.build(self.in_shape, rng=np.random.default_rng(0), dtype=self.dtype)
        finally:
            _ZERO_INIT.reset(token)
        twin.params, twin.state = self.params, self.state
        twin.name = self.name
        twin._kept = _KeptByOne()
        return twin

    def fuse_with(self, following: Layer) -> Layer | None:
        """Optional capability: one step that runs this layer and then ``following`` (the
        layer a model runs right after it), or None (the default: not fused).

        The execution plan (``nnf.parallel.plan``) asks every layer about the next one when
        ``following`` has no ``params`` and no ``state``, and runs the returned step in
        their place (the model's ``layers``, what it saves and exports stay as written).
        The step is a ``Layer``: ``forward`` maps this layer's input to ``following``'s
        output, ``backward``/``backward_parameters`` the reverse, with the two layers'
        results up to float rounding. It must own nothing: its ``params``, ``grads`` and
        ``state`` are this layer's own dicts (gradients accumulate in them, backends
        replace their arrays), what forward keeps for backward is kept on the two layers'
        per-thread attributes (the plan makes a new step for every call), its type's
        ``samples_independent`` holds for both layers, ``replica()`` is a step over the two
        layers' replicas and ``forget()`` forgets both. ``in_shape``/``out_shape`` are this
        layer's input and ``following``'s output shapes.
        """
        return None

    def zero_grad(self) -> None:
        for g in self.grads.values():
            g.fill(0)

    def parameters(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """Yield ``(name, parameter, gradient)`` for every trainable array."""
        for k, p in self.params.items():
            yield k, p, self.grads[k]

    @property
    def num_params(self) -> int:
        return sum(int(p.size) for p in self.params.values())

    # ------------------------------------------------------------ configuration
    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-safe: ``type(self).from_config(cfg)`` rebuilds it."""
        cls = type(self)
        if not attrs.has(cls):
            return {}
        return {f.name: _json_safe(getattr(self, f.name)) for f in attrs.fields(cls) if f.init}

    @classmethod
    def config_fields(cls) -> tuple[str, ...]:
        return tuple(f.name for f in attrs.fields(cls) if f.init) if attrs.has(cls) else ()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Layer:
        """Create a layer from ``get_config()`` output; unknown options are a ``ConfigError``."""
        if not isinstance(config, Mapping):
            raise ConfigError(
                f"{cls.__name__} config must be a mapping, got {type(config).__name__}"
            )
        valid = cls.config_fields()
        unknown = sorted(set(config) - set(valid))
        if unknown:
            raise ConfigError(
                f"{cls.__name__} has no option {', '.join(map(repr, unknown))}; "
                f"valid options: {', '.join(valid) or '(none)'}"
            )
        try:
            return cls(**config)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError | ShapeError):
                raise
            raise ConfigError(f"{cls.__name__}: {exc}") from None

    @classmethod
    def migrate_state(
        cls, arrays: dict[str, np.ndarray], from_version: int
    ) -> dict[str, np.ndarray]:
        """Upgrade params/state saved by layer version ``from_version`` (default: same only)."""
        if from_version != cls.version:
            raise ConfigError(
                f"{cls.key} cannot read state saved by layer version {from_version} "
                f"(this one is version {cls.version})"
            )
        return arrays

    # --------------------------------------------------------------- helpers
    @property
    def label(self) -> str:
        """How errors name this layer: ``dense_1 (Dense)`` or just ``Dense``."""
        kind = type(self).__name__
        return f"{self.name} ({kind})" if self.name else kind

    def require_built(self) -> None:
        if not self.built:
            raise NotBuiltError(
                f"{self.label} has no parameters yet: give its input size, call "
                "build(input_shape), or put it in a model and build the model"
            )

    def check_input(self, x: np.ndarray, expected: Shape | None = None) -> None:
        """Raise ``ShapeError`` naming this layer if ``x``'s sample shape is not ``expected``."""
        expected = expected if expected is not None else self.in_shape
        if expected is not None and tuple(x.shape[1:]) != tuple(expected):
            raise ShapeError(
                f"{self.label} expects input samples shaped {tuple(expected)} "
                f"(batch shape (N, {', '.join(map(str, expected))})), got a batch shaped {x.shape}"
            )


def glorot_scale(fan_in: int, fan_out: int) -> float:
    """Standard deviation of Glorot/Xavier normal initialisation."""
    return math.sqrt(2.0 / (fan_in + fan_out))


def he_scale(fan_in: int) -> float:
    """Standard deviation of He normal initialisation (for ReLU networks)."""
    return math.sqrt(2.0 / fan_in)


INITS = ("glorot", "he", "normal")


def init_array(
    rng: np.random.Generator,
    shape: Shape,
    init: str,
    fan_in: int,
    fan_out: int,
    dtype: np.dtype,
) -> np.ndarray:
    """Draw weights: ``glorot``/``he`` are scaled normals, ``normal`` is the tutorial's randn."""
    if _ZERO_INIT.get():  # a replica's placeholder, replaced by shared weights: no draws
        return np.zeros(shape, dtype=dtype)
    if init == "normal":
        scale = 1.0
    elif init == "glorot":
        scale = glorot_scale(fan_in, fan_out)
    elif init == "he":
        scale = he_scale(fan_in)
    else:
        raise ConfigError(f"unknown init {init!r}: use one of {', '.join(INITS)}")
    return (rng.standard_normal(shape) * scale).astype(dtype, copy=False)
