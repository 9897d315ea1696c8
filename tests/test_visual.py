"""nnf.visual: the numbers behind the pictures, the pictures, and the HTML report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nnf
import numpy as np
import pytest
from nnf.errors import ConfigError, DataError, ShapeError
from nnf.layers import Convolutional, Dense, Flatten, MaxPool2D, ReLU, Softmax
from nnf.visual import internals, runs, scores
from nnf.visual.figures import curve_panels, draw_curves, draw_feature_maps, draw_filters
from nnf.visual.mosaic import colour
from report_checks import (
    assert_external_free,
    assert_not_blank,
    decode_png,
    inline_pngs,
    sections,
)

pytest.importorskip("matplotlib")


def images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three classes of 12x12 images: class c lights up row block c, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    x = rng.uniform(0, 0.2, size=(n, 1, 12, 12)).astype(np.float32)
    for i, c in enumerate(y):
        x[i, 0, 4 * c : 4 * c + 3, :] = 1.0
    return x, y


def cnn() -> nnf.Sequential:
    layers = [Convolutional(kernel_size=3, depth=4, bias="channel"), ReLU(), MaxPool2D()]
    layers += [Flatten(), Dense(output_size=3), Softmax()]
    return nnf.Sequential(layers, input_shape=(1, 12, 12), name="tiny")


@pytest.fixture(scope="module")
def trained() -> tuple[nnf.Sequential, np.ndarray, np.ndarray]:
    x, y = images(120)
    model = cnn()
    model.fit(
        x,
        y,
        epochs=3,
        batch_size=16,
        loss="categorical_crossentropy",
        seed=0,
        validation_split=0.25,
        verbose=False,
    )
    return model, x, y


# ----------------------------------------------------------------- numbers
@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((1, 28, 28), (28, 28)),
        ((3, 32, 32), (32, 32, 3)),
        ((28, 28), (28, 28)),
        ((784,), (28, 28)),
        ((784, 1), (28, 28)),
        ((10,), None),
        ((2, 8, 8), None),
        ((9,), None),  # too small to be a picture
        ((1, 1, 28), None),
    ],
)
def test_image_shape(shape, expected):
    assert internals.image_shape(shape) == expected


def test_as_images_moves_rgb_channels_last():
    x = np.arange(2 * 3 * 4 * 4, dtype=float).reshape(2, 3, 4, 4)
    out = internals.as_images(x, (3, 4, 4))
    assert out.shape == (2, 4, 4, 3)
    assert out[1, 2, 3, 0] == x[1, 0, 2, 3] and out[1, 2, 3, 2] == x[1, 2, 2, 3]


def test_class_labels_from_indices_one_hot_and_regression():
    assert scores.class_labels([2, 0, 1]).tolist() == [2, 0, 1]
    assert scores.class_labels(np.eye(3)[[1, 2]]).tolist() == [1, 2]
    assert scores.class_labels([0.5, 1.2]) is None
    assert scores.class_labels([-1, 2]) is None


def test_confusion_matrix_and_per_class_by_hand():
    true = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 2, 2])
    m = nnf.metrics.confusion_matrix(true, pred, 3)
    assert m.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    rows = scores.per_class(m)
    assert rows[0] == {"support": 3, "precision": 1.0, "recall": 2 / 3, "f1": pytest.approx(0.8)}
    assert rows[1]["precision"] == 0.5 and rows[1]["recall"] == 0.5 and rows[1]["f1"] == 0.5
    never = scores.per_class(np.array([[1, 0], [1, 0]]))
    assert never[1]["precision"] is None and never[1]["recall"] == 0.0


def test_confident_mistakes_come_surest_first():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.05, 0.95], [0.7, 0.3]])
    labels = np.array([0, 0, 0, 0, 1])
    assert scores.confident_mistakes(labels, probs, 3).tolist() == [3, 1, 4]
    assert scores.confident_mistakes(labels, probs, 10).tolist() == [3, 1, 4, 2]


def test_feature_maps_are_the_convolution_and_pooling_outputs(trained):
    model, x, _ = trained
    maps = internals.feature_maps(model, x[5])
    assert [type(layer).__name__ for layer, _ in maps] == ["Convolutional", "MaxPool2D"]
    assert maps[0][1].shape == (4, 10, 10) and maps[1][1].shape == (4, 5, 5)
    conv = model.layers[0].forward(x[5:6])
    pooled = model.layers[2].forward(model.layers[1].forward(conv))
    assert np.allclose(maps[0][1], conv[0]) and np.allclose(maps[1][1], pooled[0])


def test_first_kernels_and_dense_weight_images():
    model = cnn().build(seed=0)
    layer, kernels = internals.first_kernels(model)
    assert layer is model.layers[0] and kernels.shape == (4, 1, 3, 3)
    assert internals.dense_weight_images(model) is None
    mlp = nnf.Sequential([Dense(output_size=5), ReLU(), Dense(output_size=2)], input_shape=(144,))
    mlp.build(seed=0)
    layer, tiles = internals.dense_weight_images(mlp)
    assert layer is mlp.layers[0] and tiles.shape == (5, 12, 12)
    assert np.array_equal(tiles[3].ravel(), mlp.layers[0].weights[3])
    assert internals.first_kernels(mlp) is None


def test_curve_panels_pair_train_and_validation():
    rows = [{"epoch": 1, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "lr": 0.1, "seconds": 2}]
    assert curve_panels(rows) == [
        ("loss", ["loss", "val_loss"]),
        ("accuracy", ["accuracy"]),
        ("learning rate", ["lr"]),
    ]
    # Issue 16's rows: learning_rate, and regression metrics in place of accuracy.
    rows = [
        {"epoch": 1, "loss": 1.0, "mae": 0.5, "val_mae": 0.6, "val_rmse": 0.7, "learning_rate": 1}
    ]
    assert curve_panels(rows) == [
        ("loss", ["loss"]),
        ("mae", ["mae", "val_mae"]),
        ("rmse", ["val_rmse"]),
        ("learning rate", ["learning_rate"]),
    ]


def test_colour_kinds():
    ramp = np.linspace(-1, 1, 16).reshape(4, 4)
    picture = colour(ramp, "picture")
    assert picture.shape == (4, 4, 3) and picture[0, 0, 0] == 1.0 and picture[-1, -1, 0] == 0.0
    signed = colour(np.array([[-1.0, 0.0, 1.0]]), "signed")
    assert signed[0, 0, 2] > signed[0, 0, 0]  # negative: blue
    assert signed[0, 2, 0] > signed[0, 2, 2]  # positive: red
    assert np.allclose(signed[0, 1], 1.0, atol=0.05)  # zero: near white
    assert np.all(colour(np.zeros((3, 3)), "map") == colour(np.zeros((3, 3)), "map")[0, 0])


# ---------------------------------------------------------------- pictures
def test_draw_functions_write_non_blank_images(trained, tmp_path):
    model, x, _ = trained
    for path in (
        draw_filters(model, tmp_path / "f.png"),
        draw_feature_maps(model, x[0], tmp_path / "m.png"),
        draw_curves(nnf.visual.runs.history_of(model), tmp_path / "c.png"),
    ):
        assert_not_blank(decode_png(path.read_bytes()), path.name)
    assert (tmp_path / "f.svg").exists() is False
    draw_filters(model, tmp_path / "f.svg")
    assert (tmp_path / "f.svg").read_text().lstrip().startswith("<?xml")


def test_draw_errors_name_the_problem(tmp_path):
    mlp = nnf.Sequential([Dense(output_size=2)], input_shape=(4,)).build(seed=0)
    with pytest.raises(ConfigError, match="no convolution"):
        draw_filters(mlp, tmp_path / "f.png")
    with pytest.raises(ConfigError, match="no convolution or pooling"):
        draw_feature_maps(mlp, np.zeros(4), tmp_path / "m.png")
    with pytest.raises(DataError, match="no per-epoch metrics"):
        draw_curves([], tmp_path / "c.png")
    with pytest.raises(ConfigError, match=r"\.txt.*\.png"):
        draw_filters(cnn().build(seed=0), tmp_path / "f.txt")
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------ report
def test_report_has_every_section_and_every_image_decodes(trained, tmp_path):
    model, x, y = trained
    html = nnf.report(model, x, y, path=tmp_path / "r.html", class_names=["top", "mid", "low"])
    assert (tmp_path / "r.html").read_text() == html
    assert sections(html) == ["summary", "curves", "metrics", "mistakes", "filters", "maps"]
    pngs = inline_pngs(html)
    assert len(pngs) == 5 or len(pngs) == 6  # no mistakes grid when every sample is right
    for png in pngs:
        assert_not_blank(decode_png(png))
    assert_external_free(html)
    for text in ("top", "Total params", "val_loss", "confusion matrix", "convolutional_0"):
        assert text in html


def test_report_shows_the_most_confident_mistakes(tmp_path):
    x, y = images(60)
    model = cnn().build(seed=0)  # untrained: plenty of mistakes
    model.loss = None
    html = nnf.report(model, x, y, mistakes=5)
    assert "mistakes" in sections(html)
    assert "The 5 mistakes (of" in html
    assert "No training metrics" in html  # never trained: the section says so
    assert "loss (" not in html  # no loss known: none made up


def test_report_on_a_dense_image_model_draws_its_weights():
    x, y = images(40)
    mlp = nnf.Sequential(
        [Dense(output_size=6), ReLU(), Dense(output_size=3), Softmax()], input_shape=(144,)
    )
    flat = x.reshape(40, 144)
    mlp.fit(flat, y, epochs=1, batch_size=8, loss="categorical_crossentropy", seed=0, verbose=False)
    html = nnf.report(mlp, flat, y)
    assert sections(html)[-1] == "weights"
    assert "filters" not in sections(html)
    for png in inline_pngs(html):
        assert_not_blank(decode_png(png))


def test_report_on_regression_targets_says_why_there_are_no_classes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 3)).astype(np.float32)
    model = nnf.Sequential([Dense(output_size=1)], input_shape=(3,)).build(seed=0)
    html = nnf.report(model, x, x.sum(axis=1) * 0.37)
    assert "not class labels" in html and "mistakes" not in sections(html)
    assert sections(html)[-1] == "inside"
    counts = nnf.report(model, x, np.arange(20) % 7)  # whole numbers, but one output
    assert "not class labels" in counts and "mistakes" not in sections(counts)
    binary = nnf.report(model, x, np.arange(20) % 2)  # 0/1 with one output: two classes
    assert "mistakes" in sections(binary)


def test_report_takes_a_history_and_bounds_the_samples(trained):
    model, x, y = trained
    rows = [{"epoch": e, "loss": 1 / e, "lr": 0.1 / e} for e in (1, 2, 3, 4)]
    html = nnf.report(model, x, y, history=rows, max_samples=50, sample=49)
    assert "4 epochs: loss, lr" in html and "(50 samples)" in html
    history = nnf.History(epochs=rows[:2])
    assert "2 epochs" in nnf.report(model, x, y, history=history)


def test_report_errors(trained):
    model, x, y = trained
    with pytest.raises(ShapeError, match="one label per sample"):
        nnf.report(model, x, y[:-1])
    with pytest.raises(ConfigError, match="choose 0 to 119"):
        nnf.report(model, x, y, sample=120)
    with pytest.raises(DataError, match="at least one sample"):
        nnf.report(model, x[:0], y[:0])


def test_report_without_matplotlib_names_the_extra(trained, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "matplotlib" else real(name, *a),
    )
    model, x, y = trained
    with pytest.raises(ImportError, match=r"pip install 'nnf-framework\[plot\]'"):
        nnf.report(model, x, y)


def test_report_leaves_matplotlib_as_it_found_it(tmp_path):
    """No pyplot, no backend switch, rcParams unchanged (in a fresh process)."""
    script = """
import matplotlib, sys, numpy as np, nnf
from nnf.layers import Convolutional, Flatten, Dense, Softmax
before = matplotlib.rcParams.copy()  # copy(): reading "backend" would resolve it
model = nnf.Sequential([Convolutional(kernel_size=3, depth=2), Flatten(), Dense(output_size=2),
                        Softmax()], input_shape=(1, 6, 6)).build(seed=0)
x = np.random.default_rng(0).random((8, 1, 6, 6)).astype('float32')
nnf.report(model, x, np.arange(8) % 2)
after = matplotlib.rcParams.copy()
changed = [k for k in after if str(dict.__getitem__(before, k)) != str(dict.__getitem__(after, k))]
print(changed, 'matplotlib.pyplot' in sys.modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert out.stdout.strip() == "[] False", out.stdout + out.stderr


# -------------------------------------------------------------------- runs
def test_read_history_skips_broken_lines(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(
        json.dumps({"epoch": 1, "loss": 0.5}) + "\n[1, 2]\n" + '{"epoch": 2, "lo'
    )
    assert runs.read_history(tmp_path) == [{"epoch": 1, "loss": 0.5}]
    assert runs.read_history(tmp_path / "missing.jsonl") == []


def test_run_model_path_and_metrics_path(tmp_path):
    with pytest.raises(ConfigError, match="holds no model file"):
        runs.run_model_path(tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        runs.run_model_path(tmp_path / "nope")
    cnn().build(seed=0).save(tmp_path / "best.nnf")
    assert runs.run_model_path(tmp_path) == tmp_path / "best.nnf"  # last.nnf is missing
    cnn().build(seed=0).save(tmp_path / "last.nnf")
    assert runs.run_model_path(tmp_path) == tmp_path / "last.nnf"
    assert runs.run_model_path(tmp_path, "best") == tmp_path / "best.nnf"
    assert runs.metrics_path(Path("r/last.nnf")) == Path("r/metrics.jsonl")
    assert runs.metrics_path(Path("r/m.best.nnf")) == Path("r/m.metrics.jsonl")
    assert runs.metrics_path(Path("r/m.nnf")) == Path("r/m.metrics.jsonl")


def test_load_run_falls_back_to_the_saved_history(trained, tmp_path):
    model, _, _ = trained
    model.save(tmp_path / "m.nnf")
    loaded, rows = runs.load_run(tmp_path / "m.nnf")
    assert loaded.get_config() == model.get_config()
    # The file keeps no wall-clock seconds (same training, same bytes).
    untimed = [{k: v for k, v in r.items() if k != "seconds"} for r in runs.history_of(model)]
    assert len(rows) == 3 and rows == untimed
    (tmp_path / "m.metrics.jsonl").write_text('{"epoch": 1, "loss": 2.0}\n')
    assert runs.load_run(tmp_path / "m.nnf")[1] == [{"epoch": 1, "loss": 2.0}]


def test_report_finds_the_class_names_a_model_keeps(trained):
    model, x, y = trained
    saved = dict(model.metadata)
    try:
        model.metadata["nnf.class_names"] = json.dumps(["alpha", "beta", "gamma"])
        assert "gamma" in nnf.report(model, x, y)
        del model.metadata["nnf.class_names"]
        model.metadata["nnf.run"] = json.dumps({"class_names": ["uno", "dos", "tres"]})
        assert "tres" in nnf.report(model, x, y)
        model.metadata["nnf.run"] = "{not json"
        assert "gamma" not in nnf.report(model, x, y)  # unreadable: the class numbers
    finally:
        model.metadata.clear()
        model.metadata.update(saved)


def test_report_on_colour_images():
    rng = np.random.default_rng(1)
    x = rng.random((30, 3, 8, 8)).astype(np.float32)
    y = rng.integers(0, 2, size=30)
    layers = [Convolutional(kernel_size=3, depth=2), ReLU(), Flatten(), Dense(output_size=2)]
    model = nnf.Sequential([*layers, Softmax()], input_shape=(3, 8, 8)).build(seed=0)
    html = nnf.report(model, x, y)
    assert sections(html) == ["summary", "curves", "metrics", "mistakes", "filters", "maps"]
    pngs = [decode_png(png) for png in inline_pngs(html)]
    for pixels in pngs:
        assert_not_blank(pixels)
    mistakes = pngs[1]  # no curves (untrained): confusion matrix, then the mistakes
    rgb = mistakes[..., :3]
    # Blue-dominant pixels: only colour samples make them (titles are red, grey tiles grey).
    assert np.mean(rgb[..., 2] > rgb[..., 0] + 0.3) > 0.01
