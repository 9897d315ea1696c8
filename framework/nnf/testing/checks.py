"""The checks of ``check_layer``, one function each. Each raises ``CheckFailed`` with the fix.

naming     the key is ``namespace.Name.vN``, outside the reserved ``nnf`` namespace for a
           third-party class, and the registry maps it to this very class (if registered)
config     ``from_config(get_config())`` rebuilds the same config; it is JSON-safe, keeps every
           option given, and unknown options are refused with a ConfigError
shapes     ``build`` returns the shape ``forward`` produces (training and inference, N and 1
           samples); backward returns the input's shape and one gradient per parameter; forward
           and backward leave their arguments untouched
dtype      a float32 layer stays float32: outputs, input gradients, params, grads and state
batch      inference on a batch equals its samples run one by one, in any order
gradient   float64 central differences agree with backward for the input and every parameter,
           in training and inference mode, and gradients accumulate with ``+=``
sgd        ``backward(g, learning_rate)`` returns the same input gradient as ``backward(g)`` and
           leaves ``params - learning_rate * grads`` with ``grads`` zero
modes      inference is deterministic and changes nothing; training draws randomness only from
           ``layer.rng`` (same rng, same output), never changes params (only ``state``)
save_load  a Sequential holding the layer, trained one step, survives ``nnf.io.dumps``/``loads``
           bit for bit: config, params, state and predictions, in float32 and float64
replica    (layers with ``samples_independent``) a batch split between the layer and its
           ``replica()`` gives the whole batch's outputs, input gradient and, summed, parameter
           gradients, in inference and (unless it draws random numbers) training mode; the
           twin shares ``params``/``state``, follows arrays put into ``params`` before it was
           made, and writes no ``state`` in training
reentrant  the layer declares ``keeps`` (contract 2); forward and backward, in both modes, add
           no attribute to the layer beyond it; threads running inference on one layer at
           once get exactly the serial outputs; ``backward_parameters`` gives ``backward``'s
           parameter gradients
max_order  (layers with ``commutes_with_max`` or ``takes_maxima``, ``nnf.parallel.plan``) the layer
           gives the same output and gradients before and after a reference max-taking layer
           (maxima of pairs) or ReLU, on inputs full of ties, zeros and negatives

Random layers (dropout): every training forward gets a Generator with the same seed, so the
gradient check sees the same mask each time. Stateful layers (running statistics): the state
is restored before each forward of the gradient check.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import numpy as np

from ..errors import ConfigError
from ..layer import Layer, parse_key
from .case import Case, CheckFailed, copy_weights, restore, same_bits, snapshot
from .gradients import numerical_gradient, relative_error, sample_indices

UNKNOWN_OPTION = "__nnf_testing_unknown_option__"


def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


# --------------------------------------------------------------------------- naming
def check_naming(case: Case) -> None:
    from ..registry import REGISTRY, RESERVED_NAMESPACE

    cls = case.cls
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise CheckFailed(f"{cls!r} is not a subclass of nnf.Layer")
    try:
        namespace, _, _ = parse_key(cls.key)
    except ConfigError as exc:
        raise CheckFailed(f"{cls.__qualname__}.key: {exc}") from None
    if not isinstance(cls.version, int) or cls.version < 1:
        raise CheckFailed(f"{cls.__qualname__}.version must be an int >= 1, got {cls.version!r}")
    builtin = cls.__module__.split(".")[0] in ("nnf", "nnf_layers")
    if namespace.split(".")[0] == RESERVED_NAMESPACE and not builtin:
        raise CheckFailed(
            f"key {cls.key!r} uses the reserved 'nnf' namespace: use your own, e.g. "
            f"'yourpackage.{cls.__name__}.v1'"
        )
    path = _class_path(cls)
    for other in REGISTRY.entries():
        if other.value == path and other.key != cls.key:
            raise CheckFailed(
                f"{other.dist} registers {path} as {other.key!r} but the class's key is "
                f"{cls.key!r}: make the entry-point name equal the key"
            )
    entry = REGISTRY.entry(cls.key)
    if entry is None:
        case.notes.append(f"{cls.key} is not registered (the save/load check registers it)")
        return
    if entry.cls is cls or entry.value == path:
        if entry.cause:
            raise CheckFailed(f"the registry reports {cls.key!r} as {entry.status}: {entry.cause}")
        return
    try:
        registered = REGISTRY.get(cls.key)
    except Exception as exc:
        raise CheckFailed(f"the registry cannot load {cls.key!r}: {exc}") from None
    if registered is not cls:
        raise CheckFailed(
            f"key {cls.key!r} is already registered by {entry.dist} ({entry.value}), not by "
            f"{path}: pick another key"
        )


# --------------------------------------------------------------------------- config
def check_config(case: Case) -> None:
    cls = case.cls
    layer = cls.from_config(dict(case.config))
    config = layer.get_config()
    try:
        text = json.dumps(config, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CheckFailed(
            f"get_config() is not JSON-safe ({exc}): return lists, str, int, float, bool, None"
        ) from None
    if json.loads(text) != config:
        raise CheckFailed(
            f"get_config() changes through JSON ({config} -> {json.loads(text)}): return lists, "
            "not tuples, and str keys"
        )
    missing = sorted(set(case.config) - set(config))
    if missing:
        raise CheckFailed(f"get_config() drops the option(s) {missing}: they would be lost on save")
    again = cls.from_config(json.loads(text)).get_config()
    if again != config:
        raise CheckFailed(f"from_config(get_config()) does not round-trip: {config} became {again}")
    try:
        cls.from_config({**config, UNKNOWN_OPTION: 1})
    except ConfigError:
        pass
    else:
        raise CheckFailed("from_config accepted an unknown option: raise nnf.errors.ConfigError")


# --------------------------------------------------------------------------- shapes
def check_shapes(case: Case) -> None:
    layer = case.cls.from_config(dict(case.config))
    out_shape = layer.build(case.input_shape, rng=case.rng(2), dtype="float64")
    out_shape = tuple(out_shape)
    if tuple(layer.in_shape or ()) != case.input_shape or tuple(layer.out_shape or ()) != out_shape:
        raise CheckFailed("build() must set in_shape and out_shape (call Layer.build, not _build)")
    if set(layer.grads) != set(layer.params):
        raise CheckFailed(f"grads keys {sorted(layer.grads)} != params keys {sorted(layer.params)}")
    layer.rng = case.rng(3)
    for n in (case.batch_size if case.inputs is None else len(case.inputs), 1):
        x = case.batch(n)
        for training in (False, True):
            x_before = x.copy()
            y = np.asarray(layer.forward(x, training=training))
            if not np.array_equal(x, x_before):
                raise CheckFailed("forward() modified its input array in place: work on a copy")
            if y.shape != (n, *out_shape):
                mode = "training" if training else "inference"
                raise CheckFailed(
                    f"forward() in {mode} mode returned {y.shape} for a batch {x.shape}, but "
                    f"build() said samples are shaped {out_shape}"
                )
            g = case.rng(5).standard_normal(y.shape)
            g_before = g.copy()
            layer.zero_grad()
            dx = np.asarray(layer.backward(g))
            if not np.array_equal(g, g_before):
                raise CheckFailed("backward() modified output_gradient in place: work on a copy")
            if dx.shape != x.shape:
                raise CheckFailed(f"backward() returned {dx.shape}, expected the input's {x.shape}")
            for k, p in layer.params.items():
                if layer.grads[k].shape != p.shape:
                    raise CheckFailed(
                        f"grads[{k!r}] is shaped {layer.grads[k].shape}, not {p.shape}"
                    )


# ---------------------------------------------------------------------------- dtype
def check_dtype(case: Case) -> None:
    layer = case.make("float32")
    x = case.batch().astype(np.float32)
    problems = []
    for training in (False, True):
        y = case.forward(layer, x, training)
        if y.dtype != np.float32:
            problems.append(f"forward(training={training}) returns {y.dtype}")
    g = case.rng(5).standard_normal(y.shape).astype(np.float32)
    dx = np.asarray(layer.backward(g))
    if dx.dtype != np.float32:
        problems.append(f"backward returns {dx.dtype}")
    layer.backward(g, case.learning_rate)
    for table in ("params", "grads", "state"):
        for k, v in getattr(layer, table).items():
            if v.dtype.kind == "f" and v.dtype != np.float32:
                problems.append(f"{table}[{k!r}] became {v.dtype}")
    if problems:
        raise CheckFailed(
            "a float32 layer upcasts: " + "; ".join(problems) + " (create arrays with "
            "dtype=self.dtype and keep Python floats, not float64 arrays, in formulas)"
        )


# ---------------------------------------------------------------------------- batch
def check_batch(case: Case) -> None:
    layer = case.make("float64")
    x = case.batch()
    whole = case.forward(layer, x, False)
    one_by_one = np.concatenate([case.forward(layer, x[i : i + 1], False) for i in range(len(x))])
    reversed_ = case.forward(layer, x[::-1].copy(), False)[::-1]
    scale = max(float(np.max(np.abs(whole), initial=0.0)), 1e-12)
    err = max(
        float(np.max(np.abs(whole - one_by_one), initial=0.0)),
        float(np.max(np.abs(whole - reversed_), initial=0.0)),
    )
    case.figures["batch.relative_difference"] = err / scale
    if not err / scale <= 1e-9:
        raise CheckFailed(
            f"inference on a batch differs from its samples run one by one (relative "
            f"difference {err / scale:.1e}): each sample's output must depend on it alone"
        )


# ------------------------------------------------------------------------- gradient
def _gradient_errors(case: Case, training: bool) -> dict[str, float]:
    layer = case.make("float64")
    x = case.batch()
    state0 = snapshot(layer.state)
    rng = case.rng(6)

    def output() -> np.ndarray:
        restore(layer.state, state0)
        return case.forward(layer, x, training)

    weights = rng.standard_normal(output().shape)
    layer.zero_grad()
    dx = np.asarray(layer.backward(weights.copy()), dtype=np.float64)
    grads = {k: np.array(g, dtype=np.float64) for k, g in layer.grads.items()}

    mode = "training" if training else "inference"
    errors: dict[str, float] = {}
    arrays = [("input", x, dx)] + [
        (f"parameter {k!r}", layer.params[k], grads[k]) for k in layer.params
    ]
    for what, array, analytic in arrays:
        idx = sample_indices(array.size, case.max_entries, rng)
        numeric = numerical_gradient(output, array, weights, idx, case.eps)
        err = relative_error(analytic.reshape(-1)[idx], numeric)
        errors[what] = err
        if not err < case.tolerance:
            worst = int(idx[np.argmax(np.abs(analytic.reshape(-1)[idx] - numeric))])
            raise CheckFailed(
                f"{what} ({mode} mode): relative error {err:.1e} >= {case.tolerance:.0e} between "
                f"backward and central differences (float64, {len(idx)} entries; worst at flat "
                f"index {worst}: backward {analytic.reshape(-1)[worst]:.6g}, numeric "
                f"{numeric[list(idx).index(worst)]:.6g})"
            )
    # A second backward (after another forward) must add to grads, not overwrite them.
    output()
    layer.backward(weights.copy())
    for k, g in grads.items():
        twice = np.asarray(layer.grads[k], dtype=np.float64)
        if not np.allclose(twice, 2 * g, rtol=1e-9, atol=1e-12 * max(1.0, np.abs(g).max())):
            raise CheckFailed(
                f"grads[{k!r}] is not accumulated across two backward calls ({mode} mode): use "
                f"self.grads[{k!r}] += ..., not =, so mini-batches can be summed"
            )
    return errors


def check_gradient(case: Case) -> None:
    for training in (True, False):
        mode = "training" if training else "inference"
        for what, err in _gradient_errors(case, training).items():
            name = what.replace("parameter ", "").strip("'")
            case.figures[f"gradient.{mode}.{name}"] = err


# ------------------------------------------------------------------------------ sgd
def check_sgd(case: Case) -> None:
    plain, fused = case.make("float64"), case.make("float64")
    copy_weights(plain, fused)
    x = case.batch()
    y = case.forward(plain, x, True)
    if not np.array_equal(y, case.forward(fused, x, True)):
        raise CheckFailed("two layers with the same params and rng gave different outputs")
    g = case.rng(7).standard_normal(y.shape)
    plain.zero_grad()
    dx = np.asarray(plain.backward(g.copy()))
    lr = case.learning_rate
    expected = {k: p - lr * plain.grads[k] for k, p in plain.params.items()}
    dx_fused = np.asarray(fused.backward(g.copy(), lr))
    if not np.allclose(dx_fused, dx, rtol=1e-10, atol=1e-12):
        raise CheckFailed(
            "backward(g, learning_rate) returns another input gradient than backward(g)"
        )
    for k, p in fused.params.items():
        if not np.allclose(p, expected[k], rtol=1e-10, atol=1e-12):
            diff = float(np.max(np.abs(p - expected[k])))
            raise CheckFailed(
                f"backward(g, learning_rate={lr}) left params[{k!r}] {diff:.1e} away from "
                "params - learning_rate * grads (one plain SGD step)"
            )
        if np.any(fused.grads[k] != 0):
            raise CheckFailed(f"backward(g, learning_rate) must leave grads[{k!r}] zero")


# ---------------------------------------------------------------------------- modes
def check_modes(case: Case) -> None:
    layer = case.make("float64")
    x = case.batch()
    params, state = snapshot(layer.params), snapshot(layer.state)

    first = case.forward(layer, x, False)
    layer.rng = case.rng(11)
    np.random.seed(case.seed + 12345)
    second = np.array(layer.forward(x.copy(), training=False))
    if not np.array_equal(first, second):
        raise CheckFailed(
            "inference is not deterministic: forward(x, training=False) must not draw random "
            "numbers"
        )
    changed = same_bits(params, layer.params) + same_bits(state, layer.state)
    if changed:
        raise CheckFailed(
            f"forward(training=False) changed {changed}: inference must change nothing"
        )

    one = case.forward(layer, x, True)
    after_training = snapshot(layer.state)
    if same_bits(params, layer.params):
        raise CheckFailed(
            f"forward(training=True) changed params {same_bits(params, layer.params)}: only "
            "backward and optimizers change params; keep running statistics in layer.state"
        )
    restore(layer.state, state)
    np.random.seed(case.seed + 54321)  # a layer drawing from NumPy's global RNG would differ
    two = case.forward(layer, x, True)
    if not np.array_equal(one, two):
        raise CheckFailed(
            "training mode is not reproducible: draw random numbers from self.rng only (the "
            "training loop seeds it), never from np.random"
        )
    restore(layer.state, state)
    layer.rng = case.rng(13)
    other = np.array(layer.forward(x.copy(), training=True))
    stochastic = not np.array_equal(one, other)
    updates_state = bool(same_bits(state, after_training))
    case.figures["modes.stochastic_in_training"] = float(stochastic)
    case.figures["modes.state_updated_in_training"] = float(updates_state)
    if not stochastic and not updates_state and not np.array_equal(one, first):
        case.notes.append(
            "training and inference outputs differ although the layer draws no random numbers "
            "and keeps no state"
        )


# ------------------------------------------------------------------------ save/load
def _trained_model(case: Case, dtype: str):  # -> Sequential
    from ..model import Sequential

    layer = case.cls.from_config(dict(case.config))
    # An unusual seed: weights kept outside params/state would then differ after loading.
    seed = 104729 + 7919 * case.seed
    model = Sequential([layer], input_shape=case.input_shape, dtype=dtype).build(seed=seed)
    x = case.batch().astype(dtype)
    layer.rng = case.rng(4)
    y = model.forward(x, training=True)
    model.zero_grad()
    model.backward(case.rng(8).standard_normal(y.shape).astype(dtype))
    for _, p, g in model.named_parameters():
        p -= np.asarray(0.01 * g, dtype=p.dtype)
    model.zero_grad()
    return model, x


def check_save_load(case: Case) -> None:
    from .. import io

    for dtype in ("float32", "float64"):
        model, x = _trained_model(case, dtype)
        loaded = io.loads(io.dumps(model))
        before, after = model.layers[0], loaded.layers[0]
        if type(after).key != case.cls.key or type(after).__qualname__ != case.cls.__qualname__:
            raise CheckFailed(f"the file loaded as {type(after).key} ({type(after).__qualname__})")
        if after.get_config() != before.get_config():
            raise CheckFailed(
                f"config changed through the file: {before.get_config()} -> {after.get_config()}"
            )
        for table in ("params", "state"):
            diff = same_bits(getattr(before, table), getattr(after, table))
            if diff:
                raise CheckFailed(f"{table} {diff} changed through the model file ({dtype})")
        if not np.array_equal(model.predict(x), loaded.predict(x)):
            raise CheckFailed(f"predictions differ after save and load ({dtype})")


# ------------------------------------------------------------------------- replica
def _split_difference(case: Case, training: bool) -> str | None:
    """Run a batch whole and split between a layer and its replica; name what differs."""
    whole, split = case.make("float64"), case.make("float64")
    twin = split.replica()
    x = case.batch(max(case.batch_size, 2))
    half = len(x) // 2
    state = snapshot(whole.state)
    out_whole = case.forward(whole, x, training)
    weights = case.rng(7).standard_normal(out_whole.shape)
    for layer in (whole, split, twin):
        layer.zero_grad()
    dx_whole = np.asarray(whole.backward(weights.copy()))
    outs, dxs = [], []
    for layer, xs, ws in ((split, x[:half], weights[:half]), (twin, x[half:], weights[half:])):
        restore(split.state, state)
        outs.append(case.forward(layer, xs, training))
        dxs.append(np.asarray(layer.backward(ws.copy())))
    pairs = [("output", out_whole, np.concatenate(outs))]
    pairs.append(("input gradient", dx_whole, np.concatenate(dxs)))
    pairs += [(f"grads[{k!r}]", g, split.grads[k] + twin.grads[k]) for k, g in whole.grads.items()]
    for what, a, b in pairs:
        scale = max(float(np.max(np.abs(a), initial=0.0)), 1e-12)
        if not float(np.max(np.abs(a - b), initial=0.0)) / scale <= 1e-9:
            return what
    return None


def check_replica(case: Case) -> None:
    if not type(case.make("float64")).samples_independent:
        case.notes.append("replica: samples_independent is off, models with it use one thread")
        return
    layer = case.make("float64")
    twin = layer.replica()
    if twin.params is not layer.params or twin.state is not layer.state:
        raise CheckFailed(
            "replica() must share the layer's params and state dicts (twin.params = "
            "self.params), so that an optimizer step shows in every twin"
        )
    if any(twin.grads[k] is layer.grads[k] for k in layer.grads):
        raise CheckFailed("replica() must give the twin gradient arrays of its own")
    # Worker processes point a layer's params at shared arrays, then make the replica: it
    # must compute with the arrays params holds then, not ones cached at build time.
    x = case.batch()
    moved = case.make("float64")
    for k, p in moved.params.items():
        moved.params[k] = p * 1.5 + 0.25
    reference = case.make("float64")
    for p in reference.params.values():
        p *= 1.5
        p += 0.25
    if not np.allclose(case.forward(moved.replica(), x, False), case.forward(reference, x, False)):
        raise CheckFailed(
            "a replica made after layer.params[k] was replaced computes with the old arrays: "
            "read weights from self.params[k] on every call (or re-derive cached references "
            "in an overridden replica())"
        )
    modes = [False]
    probe = case.make("float64")
    probe.rng = case.rng(8)
    random_in_training = not np.array_equal(
        np.array(probe.forward(x.copy(), training=True)), case.forward(probe, x, True)
    )
    if random_in_training:  # masks drawn for half a batch differ from a whole batch's
        case.notes.append("replica: training mode draws random numbers, compared in inference")
    else:
        modes.append(True)
    for training in modes:
        what = _split_difference(case, training)
        if what is not None:
            mode = "training" if training else "inference"
            raise CheckFailed(
                f"{what} of a batch split between the layer and its replica ({mode} mode) "
                "differs from the whole batch's: set samples_independent = False if samples "
                "interact"
            )
    state = snapshot(layer.state)
    case.forward(twin, x, True)
    if same_bits(state, layer.state):
        raise CheckFailed(
            "a training forward changed state: layers that update state (running statistics) "
            "must keep samples_independent = False"
        )


# ------------------------------------------------------------------------ reentrant
def check_reentrant(case: Case) -> None:
    cls = case.cls
    if not cls.reentrant():
        raise CheckFailed(
            "the layer does not declare keeps (layer contract 2): set keeps = (...) to the "
            "names forward writes on self for backward besides input/output (() for none), "
            "and take work buffers from nnf.workspace, not self; until then models run it on "
            "one thread at a time"
        )
    layer = case.make("float64")
    layer.rng = case.rng(3)
    before = set(vars(layer))
    x = case.batch()
    for training in (False, True):
        y = case.forward(layer, x, training)
        layer.backward(case.rng(5).standard_normal(y.shape))
        layer.backward_parameters(case.rng(5).standard_normal(y.shape))
    added = sorted(set(vars(layer)) - before)
    if added:
        raise CheckFailed(
            f"forward/backward wrote {', '.join(added)} on the layer: a thread sharing it would "
            "overwrite them. Declare what backward needs in keeps (kept per thread) and take "
            "work buffers from nnf.workspace"
        )
    layer.zero_grad()
    g = case.rng(6).standard_normal(case.forward(layer, x, True).shape)
    layer.backward(g)
    full = snapshot(layer.grads)
    layer.zero_grad()
    case.forward(layer, x, True)
    layer.backward_parameters(g)
    for k, v in full.items():
        if not np.allclose(layer.grads[k], v, rtol=1e-12, atol=1e-12):
            raise CheckFailed(
                f"backward_parameters gives grads[{k!r}] other than backward's: "
                "_backward_parameters must add the same parameter gradients"
            )
    batches = [case.batch(n) for n in (1, 2, 3, 5)]
    serial = [case.forward(layer, b, False) for b in batches]
    wrong: list[int] = []

    def run(index: int) -> None:
        for _ in range(10):
            for b, expected in zip(batches, serial):
                if not np.array_equal(case.forward(layer, b, False), expected):
                    wrong.append(index)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if wrong:
        raise CheckFailed(
            f"{len(wrong)} inference results of threads sharing the layer differ from the "
            "serial ones: something on self (a buffer, a cached array) is shared between calls"
        )


# ------------------------------------------------------------------------ max_order
def _pair_maxima(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A reference ``takes_maxima`` layer: maxima of adjacent pairs along the last axis, and
    whether each maximum is the pair's second value (the first wins ties)."""
    second = x[..., 1::2] > x[..., 0::2]
    return np.where(second, x[..., 1::2], x[..., 0::2]), second


def _route(g: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``_pair_maxima``'s backward: each gradient to the value its maximum came from."""
    dx = np.zeros((*g.shape[:-1], 2 * g.shape[-1]))
    dx[..., 0::2] = np.where(second, 0.0, g)
    dx[..., 1::2] = np.where(second, g, 0.0)
    return dx


def _order_difference(first: tuple, second: tuple) -> str | None:
    """Which of (output, input gradient, parameter gradients) differs between the orders."""
    for what, a, b in zip(("output", "input gradient"), first[:2], second[:2]):
        if a.shape != b.shape or not np.array_equal(a, b):
            return what
    for k, g in first[2].items():
        if not np.allclose(g, second[2][k], rtol=1e-12, atol=1e-12):
            return f"grads[{k!r}]"
    return None


def check_max_order(case: Case) -> None:
    cls = case.cls
    if not (cls.commutes_with_max or cls.takes_maxima):
        return
    # values with many ties, zeros and negatives: where the two orders could part
    x = case.rng(9).choice([-1.0, -0.5, 0.0, 0.0, 0.5, 1.0], size=case.batch().shape)
    if cls.commutes_with_max:  # against maxima of pairs along the last axis
        if x.shape[-1] < 2:
            case.notes.append("max_order: the last axis is too short for pairs, not checked")
            return
        x = x[..., : x.shape[-1] // 2 * 2]
        g = case.rng(10).standard_normal((*x.shape[:-1], x.shape[-1] // 2))
        before, after = case.make("float64"), case.make("float64")
        try:
            out = np.asarray(before.forward(x.copy(), training=True))
            pooled, second = _pair_maxima(out)
            dx = np.asarray(before.backward(_route(g, second)))
            first_order = (pooled, dx, before.grads)
            pooled, second = _pair_maxima(x)
            out = np.asarray(after.forward(pooled, training=True))
            dx = _route(np.asarray(after.backward(g.copy())), second)
        except Exception as exc:
            raise CheckFailed(
                f"a commutes_with_max layer must be element-wise and take any shape, but a "
                f"batch shaped {x.shape} failed: {type(exc).__name__}: {exc}"
            ) from None
        what = _order_difference(first_order, (out, dx, after.grads))
        fix = "set commutes_with_max = False unless f is non-decreasing and f' is 0 where f is flat"
    else:  # against ReLU before it
        before, after = case.make("float64"), case.make("float64")
        out = np.asarray(before.forward(np.maximum(x, 0.0), training=True))
        g = case.rng(10).standard_normal(out.shape)
        dx = np.asarray(before.backward(g.copy())) * (x > 0)
        first_order = (out, dx, before.grads)
        out = np.asarray(after.forward(x.copy(), training=True))
        dx = np.asarray(after.backward(g * (out > 0)))
        what = _order_difference(first_order, (np.maximum(out, 0.0), dx, after.grads))
        fix = (
            "set takes_maxima = False unless each output is the maximum of a fixed group of "
            "inputs and backward routes its gradient to one input holding it"
        )
    if what is not None:
        raise CheckFailed(f"{what} differs when ReLU-like and max-taking layers swap: {fix}")


CHECKS: dict[str, Callable[[Case], None]] = {
    "naming": check_naming,
    "config": check_config,
    "shapes": check_shapes,
    "dtype": check_dtype,
    "batch": check_batch,
    "gradient": check_gradient,
    "sgd": check_sgd,
    "modes": check_modes,
    "save_load": check_save_load,
    "replica": check_replica,
    "reentrant": check_reentrant,
    "max_order": check_max_order,
}

#: Checks that are pointless once ``shapes`` fails (they would repeat its error).
NEED_SHAPES = (
    "dtype",
    "batch",
    "gradient",
    "sgd",
    "modes",
    "save_load",
    "replica",
    "reentrant",
    "max_order",
)
