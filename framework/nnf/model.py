"""Sequential: a stack of layers, each feeding the next, trained with mini-batches."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ConcurrentUseError, ConfigError, NotBuiltError, ShapeError
from .layer import DTYPES, Layer, Shape, as_shape, backward_chain, deferred_build, forgetting
from .losses import Loss, get_loss
from .parallel import allocator, runtime
from .parallel.plan import execution_order

if TYPE_CHECKING:
    from .optimizers import Optimizer
    from .training import History


class Sequential:
    """Layers applied in order to batches shaped ``(N, *input_shape)``.

    ``Sequential([Convolutional(kernel_size=3, depth=5), Sigmoid(), Flatten(),
    Dense(output_size=10)], input_shape=(1, 28, 28))``. Parameters are float32 unless
    ``dtype="float64"`` (default: the dtype of layers given already built, else float32).

    Layers given already built (trained with ``nnf.train``, or tutorial-style ``Dense(2, 3)``)
    keep their weights: building the model only builds the others. Without ``input_shape``
    the first data the model sees sets it, so the tutorial's column data (N, n, 1) works.

    Any number of threads may ``predict``/``evaluate`` at once; ``fit`` while another thread
    uses the model raises ``ConcurrentUseError``.
    """

    def __init__(
        self,
        layers: Iterable[Layer] | None = None,
        input_shape: Sequence[int] | None = None,
        dtype: str | None = None,
        name: str = "sequential",
    ) -> None:
        layers = list(layers or ())
        if dtype is None:
            built = [layer.dtype for layer in layers if isinstance(layer, Layer) and layer.built]
            dtype = built[0].name if built else "float32"
        if np.dtype(dtype).name not in DTYPES:
            raise ConfigError(f"dtype {dtype!r} is not supported: use one of {', '.join(DTYPES)}")
        self.dtype = np.dtype(dtype)
        self.name = name
        self.layers: list[Layer] = []
        self.input_shape: Shape | None = as_shape(input_shape) if input_shape else None
        self.built = False
        self.seed: int | None = None
        self._lock = threading.Lock()
        self._training_thread: int | None = None  # the thread running fit, if any
        self._predicting: dict[int, int] = {}  # thread -> predict/evaluate calls in progress
        # inference through contract-1 layers, one thread at a time (evaluate nests predict)
        self._serial = threading.RLock()
        self.loss: Loss | None = None
        self.optimizer: Optimizer | None = None
        # Progress of training, saved with the model so that fit() resumes exactly.
        self.training_state: dict[str, Any] = {}
        # Free-form strings saved with the model (the CLI keeps its run settings here).
        self.metadata: dict[str, str] = {}
        for layer in layers:
            self.add(layer)

    # --------------------------------------------------------------- structure
    def add(self, layer: Layer) -> None:
        """Append a layer; it gets a unique name such as ``dense_2`` if it has none."""
        if not isinstance(layer, Layer):
            raise ConfigError(f"Sequential takes nnf.Layer instances, got {type(layer).__name__}")
        if layer.name is None or any(layer.name == other.name for other in self.layers):
            layer.name = f"{type(layer).__name__.lower()}_{len(self.layers)}"
        self.layers.append(layer)
        self.built = False

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: int) -> Layer:
        return self.layers[index]

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Sequential([{inner}], input_shape={self.input_shape})"

    def _infer_input_shape(self) -> Shape | None:
        if self.input_shape is not None:
            return self.input_shape
        return self.layers[0].declared_input_shape() if self.layers else None

    def build(
        self,
        input_shape: Sequence[int] | None = None,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> Sequential:
        """Infer every layer's shapes and initialise parameters (same seed, same weights).

        ``input_shape`` is one sample's shape, e.g. ``(1, 28, 28)``. ``rng``, if given, draws
        the initial values instead of a Generator seeded with ``seed`` (without either, a
        random seed is chosen and kept in ``self.seed``). Layers that are already built keep
        their weights (``Layer.adopt``).
        """
        if not self.layers:
            raise ConfigError("the model has no layers: add some before building it")
        shape = as_shape(input_shape) if input_shape is not None else self._infer_input_shape()
        if shape is None:
            raise NotBuiltError(
                "the model's input shape is unknown: pass input_shape to Sequential(...) or build()"
            )
        self.seed = int(seed) if seed is not None else int(np.random.default_rng().integers(2**63))
        rng = rng if rng is not None else np.random.default_rng(self.seed)
        self.input_shape = shape
        for i, layer in enumerate(self.layers):
            try:
                if layer.built:
                    shape = layer.adopt(shape, self.dtype)
                else:
                    shape = layer.build(shape, rng=rng, dtype=self.dtype)
            except (ShapeError, ConfigError) as exc:
                raise type(exc)(f"layer {i} {layer.label}: {exc}") from None
        self.built = True
        return self

    def _ensure_built(self, x: np.ndarray | None = None) -> None:
        if self.built:
            return
        if self.input_shape is None and x is not None and np.ndim(x) >= 2:
            self.input_shape = as_shape(np.shape(x)[1:])  # the data's, e.g. tutorial columns
        self.build(seed=self.seed)

    @property
    def output_shape(self) -> Shape | None:
        return self.layers[-1].out_shape if self.built and self.layers else None

    def cast(self, dtype: str) -> None:
        """Convert every parameter to ``dtype`` (float32 or float64)."""
        if np.dtype(dtype).name not in DTYPES:
            raise ConfigError(f"dtype {dtype!r} is not supported: use one of {', '.join(DTYPES)}")
        self.dtype = np.dtype(dtype)
        for layer in self.layers:
            layer.cast(self.dtype)

    # ------------------------------------------------------------ computation
    def _as_batch(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=self.dtype)
        self._ensure_built(x)
        self._check_samples(x)
        return x

    def _check_samples(self, x: np.ndarray) -> None:
        if x.shape[1:] != self.input_shape:
            raise ShapeError(
                f"the model expects samples shaped {self.input_shape} "
                f"(batch shape (N, {', '.join(map(str, self.input_shape or ()))})), "
                f"got an array shaped {x.shape}"
            )

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Run a batch ``(N, *input_shape)`` through every layer; returns ``(N, *output_shape)``.

        The layers run in ``nnf.parallel.plan.execution_order``: a ReLU directly before a
        MaxPool2D runs after it (same results, less work).
        """
        out = self._as_batch(x)
        for layer in execution_order(self.layers):
            out = layer.forward(out, training=training)
        return out

    def backward(self, output_gradient: np.ndarray, start: int | None = None) -> np.ndarray:
        """Back-propagate from the output (or from before layer ``start``, counted in
        execution order, see ``forward``); returns dL/dx."""
        grad = output_gradient
        stop = len(self.layers) if start is None else start
        for layer in reversed(execution_order(self.layers)[:stop]):
            grad = layer.backward(grad)
        return grad

    def backward_parameters(self, output_gradient: np.ndarray, start: int | None = None) -> None:
        """``backward`` for the parameter gradients only, as ``fit`` needs: the first layer
        skips dL/dx (``Layer.backward_parameters``)."""
        stop = len(self.layers) if start is None else start
        backward_chain(execution_order(self.layers)[:stop], output_gradient)

    def predict(self, x: Any, batch_size: int = 256, parallel: str | None = None) -> np.ndarray:
        """Outputs ``(N, *output_shape)`` for ``x`` shaped ``(N, *input_shape)``, computed
        ``batch_size`` at a time (only one chunk's activations are alive at once).

        ``x`` is prepared as ``fit`` prepares it (``nnf.inputs``): one sample without its
        batch axis gives a batch of one, uint8 pixels are scaled, channels-last images are
        transposed. ``parallel`` names the backend (``nnf.parallel``; default
        ``NNF_PARALLEL``, else ``auto``). ``parallel="mpi"``, given here by name, is a
        collective call: every rank of the MPI job passes the same ``x``, predicts its
        shard, and gets the whole result in order (``nnf.parallel.mpi.predict_shards``).
        """
        if _named_mpi(parallel):
            from .parallel.mpi import predict_shards

            return predict_shards(self, x, batch_size)
        from .inputs import prepare_inputs

        x = prepare_inputs(x, self)  # one sample, uint8 pixels, channels last: nnf.inputs
        with self._inference():
            return self._predict(x, batch_size, parallel)

    def _predict(self, x: np.ndarray, batch_size: int, parallel: str | None = None) -> np.ndarray:
        self._ensure_built(x)
        self._check_samples(x)
        n = x.shape[0]
        out: np.ndarray | None = None
        allocator.tune_if_opted_in()  # the process is the caller's
        order = execution_order(self.layers)
        chunk = min(n, batch_size)
        with forgetting(order), runtime(order, chunk, samples=n, parallel=parallel) as runner:
            for start in range(0, n, batch_size):
                chunk = runner.forward(self._as_batch(x[start : start + batch_size]), False)
                if out is None:
                    out = np.empty((n, *chunk.shape[1:]), dtype=chunk.dtype)
                out[start : start + len(chunk)] = chunk
        if out is None:
            out = np.empty((0, *(self.output_shape or ())), dtype=self.dtype)
        return out

    # ------------------------------------------------------------- threads
    @contextmanager
    def _inference(self) -> Iterator[None]:
        """A predict/evaluate call: refused while another thread trains the model; through
        contract-1 layers (no ``Layer.keeps``), one thread at a time."""
        me = threading.get_ident()
        with self._lock:
            if self._training_thread not in (None, me):
                raise ConcurrentUseError(
                    f"model {self.name!r} is being trained by another thread: predict after "
                    "fit returns, or on a copy (nnf.loads(model.to_bytes()))"
                )
            self._predicting[me] = self._predicting.get(me, 0) + 1
        try:
            serial = not all(type(layer).reentrant() for layer in self.layers)
            with self._serial if serial else nullcontext():
                yield
        finally:
            with self._lock:
                self._predicting[me] -= 1
                if not self._predicting[me]:
                    del self._predicting[me]

    @contextmanager
    def training(self) -> Iterator[None]:
        """The block in which ``fit`` trains: refused while another thread predicts with or
        trains this model (its weights would change under them)."""
        me = threading.get_ident()
        with self._lock:
            others = [t for t in self._predicting if t != me]
            if self._training_thread is not None or others:
                what = "trains" if self._training_thread is not None else "predicts with"
                raise ConcurrentUseError(
                    f"another thread {what} model {self.name!r}: train it when they are done, "
                    "or train a copy (nnf.loads(model.to_bytes()))"
                )
            self._training_thread = me
        try:
            yield
        finally:
            with self._lock:
                self._training_thread = None

    def evaluate(
        self,
        x: Any,
        y: Any,
        loss: str | Loss | None = None,
        batch_size: int = 256,
        metrics: Sequence[str] | None = None,
        parallel: str | None = None,
    ) -> dict[str, float]:
        """Mean loss and the task's metrics over ``x``, ``y`` (prepared as ``fit`` does).

        Classification reports ``accuracy``, regression ``mae``, ``rmse`` and ``r2``
        (``metrics=[...]`` chooses others, see ``nnf.metrics``). ``loss`` defaults to the
        model's, else ``nnf.losses.default_loss(self)``. ``y`` may be class names when the
        model keeps its ``class_names``. ``parallel``: as for ``predict``; with ``"mpi"``
        every rank passes the same ``x`` and ``y``, predicts its shard, and all ranks
        return the same metrics, those of the whole data.
        """
        from .labels import encode_targets
        from .losses import default_loss
        from .metrics import check_metrics, compute

        metrics = check_metrics(metrics)
        pred = self.predict(x, batch_size=batch_size, parallel=parallel)  # builds if unbuilt
        loss_fn = get_loss(loss) if loss is not None else self.loss
        if loss_fn is None:  # the rule fit uses
            loss_fn = get_loss(default_loss(self))
        targets = encode_targets(y, self, loss_fn)
        if len(targets.y) != len(pred):
            raise ShapeError(f"x has {len(pred)} samples but y has {len(targets.y)}")
        return {"loss": float(loss_fn(targets.y, pred)), **compute(targets, pred, metrics)}

    @property
    def class_names(self) -> tuple[str, ...] | None:
        """The names of the output classes in index order (saved with the model), or None."""
        from .labels import get_class_names

        return get_class_names(self)

    @class_names.setter
    def class_names(self, names: Sequence[str] | None) -> None:
        from .labels import set_class_names

        set_class_names(self, names)

    def predict_classes(self, x: Any, batch_size: int = 256) -> np.ndarray:
        """The predicted class of each sample ``(N,)``: its name when the model keeps
        ``class_names``, else its index (one output: 1 when >= 0.5)."""
        from .metrics import class_scores

        best = class_scores(self.predict(x, batch_size=batch_size)).argmax(axis=1)
        names = self.class_names
        return np.asarray(names)[best] if names else best

    # ---------------------------------------------------------------- training
    def named_parameters(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """Yield ``("layer_name.param", parameter, gradient)`` for every trainable array."""
        for layer in self.layers:
            for k, p, g in layer.parameters():
                yield f"{layer.name}.{k}", p, g

    def zero_grad(self) -> None:
        for layer in self.layers:
            layer.zero_grad()

    @property
    def num_params(self) -> int:
        return sum(layer.num_params for layer in self.layers)

    def fit(
        self,
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
        """Train with mini-batches; returns this call's History.

        ``x``: inputs ``(N, *input_shape)`` (uint8 pixels are scaled to [0, 1], channels-last
        images transposed); ``y``: class labels (integers, integral floats, ``(N, 1)``,
        one-hot or strings) or regression targets shaped like the outputs. ``epochs`` more
        epochs continue the model's count. ``loss`` defaults to the model's, else
        ``nnf.losses.default_loss(self)`` (Softmax: categorical cross-entropy; one Sigmoid
        output: binary cross-entropy; else mse). ``optimizer``: "adam" (default), "sgd" or an
        Optimizer; ``learning_rate`` its rate. ``validation_split`` holds out the last
        samples; ``validation_data=(x, y)`` gives them instead. ``seed`` fixes the initial
        weights of an unbuilt model, shuffling and dropout. ``callbacks``: see
        ``nnf.callbacks``. ``verbose``: 0 silent, 1 progress bar (one line per epoch when not
        on a terminal), 2 one line per epoch. ``metrics``: validation metrics by name (see
        ``nnf.metrics``). ``class_names``: class names in index order, saved with the model.
        ``parallel``: how the steps run (``nnf.parallel``: "single", "threads", "processes";
        default ``NNF_PARALLEL``, else "auto"). Full rules: ``nnf.training.fit``, docs/api.md.
        """
        from .training import fit

        return fit(
            self,
            x,
            y,
            epochs=epochs,
            batch_size=batch_size,
            loss=loss,
            optimizer=optimizer,
            learning_rate=learning_rate,
            validation_data=validation_data,
            validation_split=validation_split,
            shuffle=shuffle,
            seed=seed,
            callbacks=callbacks,
            verbose=verbose,
            metrics=metrics,
            class_names=class_names,
            parallel=parallel,
        )

    # ------------------------------------------------------------ description
    def get_config(self) -> dict[str, Any]:
        """The architecture: input shape, dtype and each layer's name, key, version and config."""
        return {
            "name": self.name,
            "input_shape": list(self.input_shape) if self.input_shape else None,
            "dtype": self.dtype.name,
            "layers": [
                {
                    "name": layer.name,
                    "key": type(layer).key,
                    "version": type(layer).version,
                    "config": layer.get_config(),
                }
                for layer in self.layers
            ],
        }

    def summary(self, print_fn: Callable[[str], Any] | None = print) -> str:
        """A Keras-style table: layer, type, output shape, parameter count, then totals.

        An unbuilt model is described from copies of its layers: its weights stay undrawn,
        so a later ``fit(seed=...)`` or ``build(seed=...)`` draws them from that seed.
        """
        described = self if self.built else self._shape_copy()
        rows = [("Layer", "Type", "Output shape", "Params")]
        for layer in described.layers:
            shape = "(None, " + ", ".join(map(str, layer.out_shape or ())) + ")"
            rows.append((layer.name or "", type(layer).key, shape, f"{layer.num_params:,}"))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        line = "-" * (sum(widths) + 6)

        def fmt(r: tuple[str, ...]) -> str:
            return "  ".join(
                c.rjust(w) if i == 3 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))
            )

        total = described.num_params
        dims = ", ".join(map(str, described.input_shape or ()))
        text = "\n".join(
            [
                f'Model "{self.name}"  input (None, {dims})  dtype {self.dtype.name}',
                line,
                fmt(rows[0]),
                line,
                *(fmt(r) for r in rows[1:]),
                line,
                f"Total params: {total:,}  ({total * self.dtype.itemsize / 1024:,.1f} KiB)",
                f"Trainable params: {total:,}",
            ]
        )
        if print_fn is not None:
            print_fn(text)
        return text

    def _shape_copy(self) -> Sequential:
        """A built copy of this model with placeholder weights (nothing drawn)."""
        from .layer import placeholder_weights

        with deferred_build():
            layers = [type(layer).from_config(layer.get_config()) for layer in self.layers]
        for copy, layer in zip(layers, self.layers):
            copy.name = layer.name
        twin = Sequential(layers, input_shape=self._infer_input_shape(), dtype=self.dtype.name)
        with placeholder_weights():
            twin._ensure_built()
        return twin

    # ------------------------------------------------------------------- files
    def save(self, path: str | Path, include_optimizer: bool = True, **kwargs: Any) -> None:
        """Write the whole model to one ``.nnf`` file, atomically (see docs/format.md)."""
        from .io import save

        save(self, path, include_optimizer=include_optimizer, **kwargs)

    def to_bytes(self, include_optimizer: bool = True, **kwargs: Any) -> bytes:
        """The model as the bytes of a ``.nnf`` file."""
        from .io import dumps

        return dumps(self, include_optimizer=include_optimizer, **kwargs)

    def load_weights(self, path: str | Path, strict: bool = True) -> Any:
        """Copy parameters from a ``.nnf`` (or ``.npz``) file into this model."""
        from .io import load_weights

        return load_weights(self, path, strict=strict)


def _named_mpi(parallel: str | None) -> bool:
    """Whether ``parallel`` names the ``mpi`` backend: a collective ``predict``/``evaluate``
    must be asked for by name (``NNF_PARALLEL=mpi`` alone leaves them to each rank)."""
    if parallel is None:
        return False
    from .parallel import backend_name

    return backend_name(parallel) == "mpi"
