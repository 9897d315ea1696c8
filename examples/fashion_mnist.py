"""Fashion-MNIST end to end: load, train LeNet-5 from its spec, evaluate, report.

    python examples/fashion_mnist.py [EPOCHS]

The same with the command line:

    nnf train examples/specs/lenet5.toml --data fashion-mnist -o runs/fashion
    nnf evaluate runs/fashion/last.nnf
    nnf report runs/fashion -o fashion.html

The data: Debian's ``apt-get install dataset-fashion-mnist`` (found in
/usr/share/datasets/fashion-mnist), a folder in ``$NNF_DATA_DIR``, or one download into the
cache (SHA-256 checked). Fashion-MNIST is by Zalando Research (MIT licence): 60,000 training
and 10,000 test images of 10 kinds of clothing, 28x28 grey, the same shape as MNIST.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nnf
import nnf.spec

SPEC = Path(__file__).resolve().parent / "specs" / "lenet5.toml"


def main(epochs: int = 3, out: str | Path = "fashion", limit: int | None = None) -> dict:
    """Train for ``epochs`` (on the first ``limit`` training images, all when None), then
    evaluate on the 10,000 test images and write OUT/lenet5.nnf and OUT/report.html."""
    data = nnf.datasets.load("fashion-mnist")
    x_train, y_train = data.x_train[:limit], data.y_train[:limit]
    x_train, x_test = nnf.datasets.to_images(x_train), nnf.datasets.to_images(data.x_test)
    print(f"{len(x_train):,} training images; classes: {', '.join(data.class_names)}")

    model = nnf.spec.load_spec(SPEC).build(seed=0)  # the spec's layers; its [training] below
    model.name = "lenet5_fashion"
    model.fit(
        x_train,
        y_train,
        epochs=epochs,
        batch_size=32,
        loss="categorical_crossentropy",
        optimizer="adam",
        learning_rate=0.001,
        validation_split=0.1,
        seed=0,
    )
    scores = model.evaluate(x_test, data.y_test)
    print(f"test accuracy {scores['accuracy']:.2%}, loss {scores['loss']:.4f}")

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "lenet5.nnf")
    nnf.report(
        model,
        x_test,
        data.y_test,
        path=out / "report.html",
        class_names=data.class_names,
        data_name="Fashion-MNIST (test)",
    )
    print(f"model and report written to {out}/")
    return scores


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
