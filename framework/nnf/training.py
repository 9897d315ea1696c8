"""The mini-batch training loop behind ``Sequential.fit``.

Randomness is derived from ``(seed, epoch)``, so a model saved after epoch N and trained on
later gives exactly the weights of an uninterrupted run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import attrs
import numpy as np

from .errors import ConfigError, ShapeError, TrainingError
from .losses import (
    CategoricalCrossEntropy,
    Loss,
    SoftmaxCrossEntropy,
    default_loss,
    get_loss,
    value_and_softmax_gradient,
)
from .optimizers import Optimizer, get_optimizer
from .parallel import allocator, process_rank, runtime
from .parallel.plan import execution_order
from .parallel.single import Runtime

if TYPE_CHECKING:
    from .model import Sequential


class Callback(Protocol):
    """Anything with some of the hooks of ``nnf.callbacks.Callback`` (see ``nnf.callbacks.base``);
    ``on_epoch_end`` returning True stops training."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float], model: Sequential) -> bool | None:
        """Called after each epoch with its metrics."""


def _hooks(callbacks: Sequence[Any], name: str) -> list[Any]:
    return [h for h in (getattr(cb, name, None) for cb in callbacks) if h is not None]


@attrs.define
class History:
    """Per-epoch metrics: ``history.epochs[i]`` is a dict; ``history["loss"]`` a list."""

    epochs: list[dict[str, float]] = attrs.Factory(list)

    def __getitem__(self, metric: str) -> list[float]:
        return [e[metric] for e in self.epochs if metric in e]

    @property
    def history(self) -> dict[str, list[float]]:
        keys = dict.fromkeys(k for e in self.epochs for k in e)
        return {k: self[k] for k in keys}

    def __len__(self) -> int:
        return len(self.epochs)


def _split(
    x: np.ndarray, y: np.ndarray, validation_split: float
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    if not 0 <= validation_split < 1:
        raise ConfigError(f"validation_split must be in [0, 1), got {validation_split}")
    if validation_split == 0:
        return x, y, None
    n_val = round(len(x) * validation_split)
    if n_val == 0 or n_val == len(x):
        raise ConfigError(
            f"validation_split={validation_split} leaves no training or no validation samples "
            f"out of {len(x)}"
        )
    # The last samples are held out (as Keras does), before any shuffling.
    return x[:-n_val], y[:-n_val], (x[-n_val:], y[-n_val:])


def _fused_softmax(model: Sequential, loss: Loss) -> bool:
    """Cross-entropy after a softmax layer (``Layer.fuses_with_cross_entropy``):
    back-propagate (p - y)/N into the softmax's input."""
    last = model.layers[-1] if model.layers else None
    return (
        isinstance(loss, CategoricalCrossEntropy)
        and last is not None
        and type(last).fuses_with_cross_entropy
    )


def train_step(
    model: Sequential,
    xb: np.ndarray,
    yb: np.ndarray,
    loss: Loss,
    optimizer: Optimizer,
    runner: Runtime | None = None,
    batch_samples: int | None = None,
) -> tuple[float, np.ndarray | None]:
    """One mini-batch: forward, loss, backward, update. Returns (loss, predictions).

    The model's gradients must be zero on entry (``fit`` zeroes them once, and every step
    leaves them zero). ``runner`` (``nnf.parallel``; default: one piece) runs forward and
    backward, maybe split over threads or worker processes; the loss and its gradient are
    computed on the whole batch, so any loss works unchanged. Under MPI, ``xb`` is this
    rank's shard of a global batch of ``batch_samples`` samples (default ``len(xb)``): its
    loss gradient is scaled by its share, the runner sums the gradients over the ranks, and
    the returned loss is the global batch's; the predictions are the shard's (None for an
    empty shard). An optimizer whose step is plain SGD (``Optimizer.plain_rate``) is taken
    by the layers during backward where the runner holds the whole batch (``fuses_sgd``):
    the tutorial's update, without the passes over the gradients that ``step`` and
    ``zero_grad`` make.
    """
    if runner is None:
        runner = Runtime(execution_order(model.layers))
    k = len(xb)
    whole = k if batch_samples is None else int(batch_samples)
    value, pred = 0.0, None
    if k:
        pred = runner.forward(model._as_batch(xb), training=True)
        start = len(model.layers)
        if not _fused_softmax(model, loss):
            value, grad = loss(yb, pred), loss.gradient(yb, pred)
        elif type(loss).__call__ is CategoricalCrossEntropy.__call__:  # one label check for both
            value, grad = value_and_softmax_gradient(yb, pred)
            start -= 1
        else:  # a subclass with a value of its own
            value = loss(yb, pred)
            grad = SoftmaxCrossEntropy.gradient_from_probs(yb, pred).reshape(pred.shape)
            start -= 1
        if whole != k:  # a shard: the ranks' summed gradients are the whole batch's mean
            grad = grad * (k / whole)
        grad = grad.astype(pred.dtype, copy=False)
        rate = optimizer.plain_rate() if runner.fuses_sgd else None
        if rate is not None:  # plain SGD in one piece: each layer steps during backward,
            runner.backward_sgd(grad, start, rate)  # with no pass over gradients afterwards
            optimizer.count_step()
            return value, pred
        runner.backward(grad, start)
    summed = runner.sum_gradients(float(value) * k)  # one process: the gradients stay
    if runner.ranks > 1:
        value = summed / whole
    optimizer.step(model.named_parameters())
    model.zero_grad()  # the optimizer used them as scratch; the next step needs them zero
    return value, pred


def _snapshot(model: Sequential) -> list[dict[str, np.ndarray]]:
    return [{k: v.copy() for k, v in layer.params.items()} for layer in model.layers]


def _restore(model: Sequential, snapshot: list[dict[str, np.ndarray]]) -> None:
    for layer, params in zip(model.layers, snapshot):
        for k, v in params.items():
            layer.params[k][...] = v


def fit(
    model: Sequential,
    x: Any,
    y: Any,
    epochs: int = 1,
    batch_size: int = 32,
    loss: str | Loss | None = None,
    optimizer: str | Optimizer | None = None,
    learning_rate: float | None = None,
    validation_data: tuple[Any, Any] | None = None,
    validation_split: float = 0.0,
    shuffle: bool = True,
    seed: int | None = None,
    callbacks: Sequence[Any] = (),
    verbose: int = 1,
    metrics: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    parallel: str | None = None,
) -> History:
    """Train ``model`` on inputs ``x`` ``(N, *input_shape)`` and targets ``y``.

    Inputs follow ``nnf.inputs`` (uint8 pixels scaled to [0, 1], channels-last images
    transposed, one sample accepted); targets follow ``nnf.labels`` (class labels as integers,
    integral floats, ``(N, 1)``, one-hot rows or strings, or regression targets shaped like
    the outputs). ``epochs`` more epochs are run, continuing the model's epoch count.
    ``loss`` defaults to the model's, else ``nnf.losses.default_loss(model)``. ``optimizer``
    is a name or an Optimizer (default: the model's saved optimizer, else Adam);
    ``learning_rate`` sets its rate. ``seed`` fixes shuffling and dropout (default: the seed
    saved with the model). ``callbacks``: see ``nnf.callbacks``. ``verbose``: 0 silent, 1 a
    progress bar on a terminal (one line per epoch elsewhere), 2 one line per epoch.
    ``metrics``: names from ``nnf.metrics.METRICS`` reported for validation data (default:
    accuracy for classification, mae/rmse/r2 for regression). ``class_names``: the classes'
    names in index order, saved with the model. Returns the History of this call;
    ``model.training_state["history"]`` keeps all epochs. ``parallel`` names the backend
    that runs the steps (``nnf.parallel``: ``single``, ``threads``, ``processes``, ``mpi``;
    default ``NNF_PARALLEL``, else ``auto``). Under ``mpi`` every rank calls ``fit`` with the
    same data and settings; each takes a shard of every batch and of the validation data,
    and callbacks with ``rank_zero_only`` set (progress, checkpoints, metrics files) run on
    rank 0 alone. An error on one rank is sent to the others, which raise
    ``nnf.errors.RankFailedError`` naming that rank and the cause (``nnf.parallel.mpi_job``).
    """
    from .inputs import prepare_inputs
    from .metrics import check_metrics
    from .parallel.mpi import collective

    with collective(parallel) as job:  # MPI: an error here is announced to the other ranks
        metrics = check_metrics(metrics)
        x = prepare_inputs(x, model, "x")
        y = np.asarray(y)
        if len(x) != len(y):
            raise ShapeError(f"x has {len(x)} samples but y has {len(y)}: they must match")
        if len(x) == 0:
            raise ShapeError("cannot train on an empty dataset")
        if int(epochs) < 0 or int(batch_size) < 1:
            raise ConfigError(
                f"epochs must be >= 0 and batch_size >= 1 (got {epochs}, {batch_size})"
            )
        state = model.training_state
        if seed is None:
            seed = state.get("seed")
        if seed is None:
            seed = int(np.random.default_rng().integers(2**63))
        seed = int(seed)
        if job is not None:  # every rank shuffles as rank 0 (a drawn seed differs per rank)
            seed = job.allgather(seed)[0]
        with model.training():
            return _fit(
                model,
                x,
                y,
                epochs,
                batch_size,
                loss,
                optimizer,
                learning_rate,
                validation_data,
                validation_split,
                shuffle,
                seed,
                callbacks,
                verbose,
                metrics,
                class_names,
                parallel,
            )


def _fit(
    model: Sequential,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
    loss: str | Loss | None,
    optimizer: str | Optimizer | None,
    learning_rate: float | None,
    validation_data: tuple[Any, Any] | None,
    validation_split: float,
    shuffle: bool,
    seed: int,
    callbacks: Sequence[Any],
    verbose: int,
    metrics: Any,
    class_names: Sequence[str] | None,
    parallel: str | None,
) -> History:
    from .inputs import prepare_inputs
    from .labels import encode_targets, set_class_names
    from .metrics import compute

    state = model.training_state
    if not model.built:  # a built model keeps its weights, whatever the seed
        if model.input_shape is None:
            model.input_shape = tuple(int(d) for d in x.shape[1:])
        model.build(seed=seed)

    loss_fn = get_loss(loss) if loss is not None else model.loss or get_loss(default_loss(model))
    targets = encode_targets(y, model, loss_fn, class_names)
    if targets.class_names is not None:
        set_class_names(model, targets.class_names)
    if optimizer is None and model.optimizer is not None:
        opt = model.optimizer
        if learning_rate is not None:
            opt.learning_rate = float(learning_rate)
    elif isinstance(optimizer, Optimizer):
        opt = optimizer
        if learning_rate is not None:
            opt.learning_rate = float(learning_rate)
    else:
        opt = get_optimizer(optimizer, learning_rate=learning_rate)
    model.loss, model.optimizer = loss_fn, opt

    x_train, y_train, held_out = _split(x, targets.y, validation_split)
    labels = targets.labels[: len(x_train)] if targets.labels is not None else None
    val_targets = None
    if held_out is not None:
        from .labels import Targets

        val_labels = targets.labels[len(x_train) :] if targets.labels is not None else None
        val_targets = Targets(held_out[1], targets.task, val_labels, targets.class_names)
    if validation_data is not None:
        val_x = prepare_inputs(validation_data[0], model, "validation x")
        val_targets = encode_targets(validation_data[1], model, loss_fn, targets.class_names)
        held_out = (val_x, val_targets.y)

    history = History()
    all_epochs: list[dict[str, float]] = state.setdefault("history", [])
    first = int(state.get("epoch", 0))
    state["seed"] = seed
    n = len(x_train)
    num_batches = -(-n // batch_size)
    callbacks = list(callbacks)
    if verbose:
        from .callbacks import ProgressBar

        callbacks.append(ProgressBar(per_epoch=int(verbose) >= 2))  # last: after checkpoints
    if process_rank(parallel) != 0:  # one writer and one printer per job: rank 0
        callbacks = [cb for cb in callbacks if not getattr(cb, "rank_zero_only", False)]
    batch_hooks = _hooks(callbacks, "on_batch_end")
    epoch_begin_hooks = _hooks(callbacks, "on_epoch_begin")
    params = {
        "epochs": int(epochs),
        "first_epoch": first + 1,
        "last_epoch": first + int(epochs),
        "batch_size": int(batch_size),
        "num_batches": num_batches,
        "samples": n,
        "validation": held_out is not None,
    }
    from .callbacks.base import check_monitors

    check_monitors(callbacks, held_out is not None)  # before any callback writes a file
    running_name = "accuracy" if labels is not None else "mae"
    allocator.tune_if_opted_in()  # the process is the caller's
    model.zero_grad()  # each step then leaves them zero for the next (see train_step)
    layer_order = execution_order(model.layers)  # what every backend runs
    logs: dict[str, float] = {}
    try:
        for hook in _hooks(callbacks, "on_train_begin"):
            hook(model, params)
        with runtime(
            layer_order,
            min(batch_size, n),
            training=True,
            samples=n * int(epochs),
            parallel=parallel,
        ) as runner:
            runner.broadcast_weights()
            for epoch in range(first, first + int(epochs)):
                for hook in epoch_begin_hooks:
                    hook(epoch, model)
                start_time = time.perf_counter()
                rng = np.random.default_rng([seed, epoch])
                for i, layer in enumerate(model.layers):
                    layer.rng = np.random.default_rng([seed, epoch, 1, i])
                runner.reseed(seed, epoch)
                order = rng.permutation(n) if shuffle else np.arange(n)
                snapshot = _snapshot(model)
                total, measured, seen = 0.0, 0.0, 0
                for b in range(0, n, batch_size):
                    batch = order[b : b + batch_size]
                    lo, hi = runner.shard(len(batch))  # this process's part (MPI rank)
                    idx = batch[lo:hi]
                    xb, yb = x_train[idx], y_train[idx]
                    value, pred = train_step(model, xb, yb, loss_fn, opt, runner, len(batch))
                    if not math.isfinite(value):
                        _restore(model, snapshot)
                        raise TrainingError(
                            f"the loss became {value} in epoch {epoch + 1} "
                            f"(batch {b // batch_size + 1}); "
                            "the weights were reset to the end of the previous epoch. Lower the "
                            "learning rate or check the data for NaN/inf values"
                        )
                    total += value * len(batch)
                    if pred is not None:
                        measured += _running_metric(pred, yb, labels, idx) * len(idx)
                        seen += len(idx)
                    if batch_hooks:
                        done = min(b + batch_size, n)
                        running = {"loss": total / done, running_name: measured / max(seen, 1)}
                        for hook in batch_hooks:
                            hook(b // batch_size, num_batches, running)
                measured = float(runner.sum_values(np.array([measured]))[0])
                logs = {"epoch": epoch + 1, "loss": total / n, running_name: measured / n}
                runner.end_epoch(epoch)  # MPI: same state, same weights
                if held_out is not None and val_targets is not None:
                    pred = _predict_shared(model, held_out[0], runner)
                    logs["val_loss"] = float(loss_fn(val_targets.y, pred))
                    found = compute(val_targets, pred, metrics)
                    logs.update({f"val_{k}": v for k, v in found.items()})
                logs["learning_rate"] = float(opt.learning_rate)
                logs["seconds"] = time.perf_counter() - start_time
                state["epoch"] = epoch + 1
                history.epochs.append(logs)
                all_epochs.append(logs)
                stop = False
                for cb in callbacks:
                    hook = getattr(cb, "on_epoch_end", None)
                    if hook is not None and hook(epoch, logs, model):
                        stop = True
                if stop:
                    break
    except BaseException as error:
        for hook in _hooks(callbacks, "on_train_abort"):
            hook(model, error)
        raise
    for hook in _hooks(callbacks, "on_train_end"):
        hook(model, logs)
    return history


def _predict_shared(model: Sequential, x: np.ndarray, runner: Runtime) -> np.ndarray:
    """``model.predict(x)``, each process predicting its shard and all gathering the rest."""
    lo, hi = runner.shard(len(x))
    local = getattr(runner, "local_parallel", None)  # MPI: on this rank's share of the cores
    return runner.gather_rows(model.predict(x[lo:hi], batch_size=256, parallel=local), len(x))


def _running_metric(
    pred: np.ndarray, yb: np.ndarray, labels: np.ndarray | None, idx: np.ndarray
) -> float:
    """A batch's accuracy (class labels) or mean absolute error (regression targets)."""
    if labels is None:
        return float(np.mean(np.abs(pred - yb.reshape(pred.shape))))
    p = pred.reshape(len(pred), -1)
    guess = p.argmax(axis=1) if p.shape[1] > 1 else (p[:, 0] >= 0.5)
    return float(np.count_nonzero(guess == labels[idx]) / len(idx))
