"""``nnf.report``: one self-contained HTML page about a trained classifier.

Sections: the model summary; training curves; metrics, per-class table and confusion matrix;
the most confidently misclassified samples; the first convolution's filters and one sample's
feature maps (models with convolutions) or the first layer's weights as images (Dense-only
image models). Sample counts are bounded (``max_samples`` scored, ``mistakes`` shown, 64
filters, 16 maps a layer), so a 10,000-image test set takes seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import metrics
from ..errors import ConfigError, DataError, ShapeError
from . import page
from .canvas import figure_bytes, require_matplotlib
from .figures import (
    confusion_figure,
    curves_figure,
    dense_weights_figure,
    filters_figure,
    layer_caption,
    maps_figure,
    mistakes_figure,
)
from .internals import as_images, dense_weight_images, feature_maps, first_kernels
from .runs import history_of
from .scores import (
    class_labels,
    confident_mistakes,
    per_class,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..model import Sequential
    from ..training import History

# Where ``nnf train`` keeps the class names: its run record (cli/runinfo.py), and since issue 16
# also a list of its own.
RUN_METADATA_KEY = "nnf.run"
NAMES_METADATA_KEY = "nnf.class_names"


def report(
    model: Sequential,
    x: Any,
    y: Any,
    history: History | Sequence[dict[str, Any]] | None = None,
    path: str | Path | None = None,
    *,
    class_names: Sequence[str] | None = None,
    sample: int = 0,
    title: str | None = None,
    data_name: str | None = None,
    max_samples: int = 10_000,
    mistakes: int = 24,
    batch_size: int = 256,
) -> str:
    """Write (to ``path``, atomically, when given) and return an HTML report on ``model``.

    ``x`` ``(N, *input_shape)`` and ``y`` (class indices ``(N,)`` or one-hot ``(N, K)``) are
    the samples to score, as ``model.evaluate`` takes them; the first ``max_samples`` are used.
    ``history`` is a ``History`` or per-epoch dicts; None takes the epochs the model's training
    state keeps. ``class_names`` default to the names ``nnf train`` saved in the model, else
    the class numbers. ``sample`` picks the sample whose feature maps are drawn.
    """
    require_matplotlib()
    started = time.perf_counter()
    x = np.asarray(x)[:max_samples]
    y = np.asarray(y)[:max_samples]
    if len(x) != len(y):
        raise ShapeError(f"x has {len(x)} samples but y has {len(y)}; give one label per sample")
    if len(x) == 0:
        raise DataError("the report needs at least one sample to score")
    if not 0 <= sample < len(x):
        raise ConfigError(
            f"sample={sample} is not one of the {len(x)} samples: choose 0 to {len(x) - 1}"
        )
    pred = model.predict(x, batch_size=batch_size)
    rows = _history_rows(model, history)
    labels = class_labels(y)
    if labels is not None and labels.size and pred[0].size == 1 and labels.max() > 1:
        labels = None  # one output and whole-number targets beyond 0/1: a regression
    names = _class_names(model, class_names, pred)
    name = title or f"What {model.name} learned"

    sections = [("summary", "Model", _summary(model, rows))]
    sections.append(("curves", "Training curves", _curves(rows)))
    if labels is None:
        text = "The targets are not class labels, so there are no class metrics or mistakes."
        sections.append(("metrics", "Metrics", _loss_only(model, y, pred) + page.note(text)))
    else:
        probs = metrics.class_scores(pred)
        k = max(probs.shape[1], int(labels.max()) + 1)
        names = [*names, *(str(i) for i in range(len(names), k))]
        sections.append(("metrics", "Metrics", _metrics(model, y, pred, labels, probs, names)))
        sections.append(
            (
                "mistakes",
                "Most confident mistakes",
                _mistakes(model, x, labels, probs, names, mistakes),
            )
        )
    sections.extend(_inside(model, x, labels, pred, names, sample))

    described = f" on {data_name}" if data_name else ""
    lead = f"{model.name}: {model.num_params:,} parameters, scored{described} ({len(x):,} samples)."
    from .. import __version__

    footer = (
        f"Made by nnf {__version__} in {time.perf_counter() - started:.1f} s. "
        "One file: the images are inside it, it needs no network."
    )
    text = page.document(name, lead, sections, footer)
    if path is not None:
        from ..io.durable import atomic_write

        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, [text.encode("utf-8")])
    return text


# ------------------------------------------------------------------ pieces
def _history_rows(model: Sequential, history: Any) -> list[dict[str, Any]]:
    if history is None:
        return history_of(model)
    epochs = getattr(history, "epochs", history)  # a History, or its rows
    return [dict(r) for r in epochs if isinstance(r, dict)]


def _class_names(model: Sequential, given: Sequence[str] | None, pred: np.ndarray) -> list[str]:
    """``given``, else the names the model keeps (``model.class_names``, the ``nnf.class_names``
    metadata, or the run record ``nnf train`` saved), else the class numbers."""
    if given is not None:
        return [str(n) for n in given]
    for saved in (getattr(model, "class_names", None), *_saved_names(model)):
        if isinstance(saved, list | tuple) and saved:
            return [str(n) for n in saved]
    k = int(np.prod(pred.shape[1:])) if pred.ndim > 1 else 1
    return [str(i) for i in range(max(k, 2))]


def _saved_names(model: Sequential) -> list[Any]:
    found = []
    for key, pick in ((NAMES_METADATA_KEY, None), (RUN_METADATA_KEY, "class_names")):
        try:
            value = json.loads(model.metadata.get(key) or "null")
        except ValueError:
            continue
        found.append(value.get(pick) if pick and isinstance(value, dict) else value)
    return found


def _png(fig: Figure) -> bytes:
    return figure_bytes(fig, "png")


def _summary(model: Sequential, rows: list[dict[str, Any]]) -> str:
    facts = [("parameters", f"{model.num_params:,}"), ("layers", str(len(model.layers)))]
    if rows:
        facts.append(("epochs trained", str(len(rows))))
    facts.append(("dtype", model.dtype.name))
    return page.cards(facts) + f"<pre>{page.esc(model.summary(print_fn=None))}</pre>"


def _curves(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return page.note(
            "No training metrics: this model has no saved history and no metrics.jsonl was "
            "found beside it (train it with nnf train or model.fit, or pass history=...)."
        )
    try:
        fig = curves_figure(rows)
    except DataError:
        return page.note("The training history holds no numeric metrics to draw.")
    keys = sorted({k for r in rows for k in r} - {"epoch", "seconds"})
    return page.image(
        _png(fig), "training curves", f"Per epoch, {len(rows)} epochs: {', '.join(keys)}."
    )


def _loss_value(model: Sequential, y: np.ndarray, pred: np.ndarray) -> float | None:
    if model.loss is None:
        return None
    try:
        return float(model.loss(y, pred))
    except Exception:  # labels in another encoding than the loss takes: leave it out
        return None


def _loss_only(model: Sequential, y: np.ndarray, pred: np.ndarray) -> str:
    loss = _loss_value(model, y, pred)
    return page.cards([("loss", f"{loss:.4f}")]) if loss is not None else ""


def _fmt(value: float | int | None, percent: bool = True) -> str:
    if value is None:
        return "-"
    return f"{value:.1%}" if percent else f"{value:,}"


def _metrics(
    model: Sequential,
    y: np.ndarray,
    pred: np.ndarray,
    labels: np.ndarray,
    probs: np.ndarray,
    names: list[str],
) -> str:
    predicted = probs.argmax(axis=1)
    matrix = metrics.confusion_matrix(labels, predicted, len(names))
    classes = per_class(matrix)
    f1s = [c["f1"] for c in classes if c["f1"] is not None and c["support"]]
    facts = [
        ("samples", f"{len(labels):,}"),
        ("accuracy", f"{np.mean(predicted == labels):.2%}"),
    ]
    loss = _loss_value(model, y, pred)
    if loss is not None:
        facts.append((f"loss ({getattr(model.loss, 'name', 'loss')})", f"{loss:.4f}"))
    if f1s:
        facts.append(("macro F1", f"{np.mean(f1s):.3f}"))
    rows = [
        (
            f"{i} {n}" if n != str(i) else n,
            _fmt(c["support"], percent=False),
            _fmt(c["precision"]),
            _fmt(c["recall"]),
            _fmt(c["f1"]),
        )
        for i, (n, c) in enumerate(zip(names, classes))
    ]
    table = page.table(("class", "samples", "precision", "recall (accuracy)", "F1"), rows)
    heat = page.image(
        _png(confusion_figure(matrix, names)),
        "confusion matrix",
        "Rows: the true class; columns: the predicted class. Counts are written in the cells; "
        "the colour is the share of the row.",
    )
    return page.cards(facts) + table + heat


def _mistakes(
    model: Sequential,
    x: np.ndarray,
    labels: np.ndarray,
    probs: np.ndarray,
    names: list[str],
    count: int,
) -> str:
    wrong = confident_mistakes(labels, probs, count)
    if len(wrong) == 0:
        return page.note(f"No mistakes: every one of the {len(labels):,} samples is right.")
    images = as_images(x[wrong], model.input_shape)
    if images is None:
        return page.note(
            f"{np.sum(probs.argmax(axis=1) != labels):,} mistakes; the samples are not images, so "
            "none is drawn."
        )
    predicted = probs.argmax(axis=1)
    fig = mistakes_figure(
        images,
        [names[t] for t in labels[wrong]],
        [names[p] for p in predicted[wrong]],
        [float(probs[i, predicted[i]]) for i in wrong],
    )
    total = int(np.sum(predicted != labels))
    return page.image(
        _png(fig),
        "most confidently misclassified samples",
        f"The {len(wrong)} mistakes (of {total:,}) the model was surest of: the true class, "
        "the predicted one and the probability it gave to it.",
    )


def _inside(
    model: Sequential,
    x: np.ndarray,
    labels: np.ndarray | None,
    pred: np.ndarray,
    names: list[str],
    sample: int,
) -> list[tuple[str, str, str]]:
    sections = []
    kernels = first_kernels(model)
    if kernels is not None:
        layer, k = kernels
        fig = filters_figure(k)
        text = (
            f"The {len(k)} kernels of {layer.name} ({'x'.join(map(str, k.shape))}), each on its "
            "own colour scale: red weights raise the output, blue ones lower it."
        )
        sections.append(
            ("filters", "First convolution's filters", page.image(_png(fig), "filters", text))
        )
        maps = feature_maps(model, x[sample])
        shown = as_images(x[sample : sample + 1], model.input_shape)
        fig = maps_figure(
            None if shown is None else shown[0], [(layer_caption(layer), m) for layer, m in maps]
        )
        about = f"sample {sample}"
        if labels is not None:
            guess = int(np.argmax(pred[sample].reshape(-1))) if pred[sample].size > 1 else None
            about += f" (true {names[labels[sample]]}"
            about += f", predicted {names[guess]})" if guess is not None else ")"
        text = (
            f"The outputs of each convolution and pooling for {about}, up to 16 channels a layer, "
            "each channel on its own colour scale (yellow high, purple low)."
        )
        sections.append(("maps", "Feature maps", page.image(_png(fig), "feature maps", text)))
        return sections
    dense = dense_weight_images(model)
    if dense is not None:
        layer, images = dense
        fig = dense_weights_figure(images)
        text = (
            f"Each of the first {min(len(images), 64)} units of {layer.name} as an image of its "
            f"{images.shape[1]}x{images.shape[2]} input weights: red pixels raise the unit's "
            "output, blue ones lower it."
        )
        sections.append(
            ("weights", "First layer's weights", page.image(_png(fig), "weights", text))
        )
        return sections
    text = "The model has no convolution and does not take images, so there is nothing to draw."
    return [("inside", "Inside the network", page.note(text))]
