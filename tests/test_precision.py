"""float32 training (the default) reaches float64's accuracy within noise (issue 5's target)."""

from __future__ import annotations

from pathlib import Path

from nnf.datasets.bundled import mnist_small
from nnf.spec import build_model, load_spec

LENET5 = Path(__file__).resolve().parents[1] / "examples" / "specs" / "lenet5.toml"


def test_float32_training_reaches_the_float64_accuracy() -> None:
    (x, y), (x_test, y_test) = mnist_small()
    x, x_test = x[:, None] / 255.0, x_test[:, None] / 255.0
    scores = {}
    for dtype in ("float32", "float64"):
        model = build_model(load_spec(LENET5, {"dtype": dtype}), seed=0)
        assert model.dtype.name == dtype
        model.fit(x.astype(dtype), y, epochs=3, batch_size=32, loss="categorical_crossentropy",
                  optimizer="adam", learning_rate=0.001, seed=0, verbose=0)  # fmt: skip
        scores[dtype] = model.evaluate(x_test.astype(dtype), y_test)
    # 1,000 test digits: one standard error of an accuracy near 0.93 is ~0.008
    assert scores["float64"]["accuracy"] > 0.9
    assert abs(scores["float32"]["accuracy"] - scores["float64"]["accuracy"]) <= 0.02
    assert abs(scores["float32"]["loss"] / scores["float64"]["loss"] - 1) < 0.15
