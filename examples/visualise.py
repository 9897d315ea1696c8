"""See what a CNN learned: an HTML report and single pictures, from Python and the terminal.

Trains a small CNN on the bundled MNIST subset, then writes into OUT (default: ./visualise):

    report.html   summary, curves, metrics, confusion matrix, mistakes, filters, feature maps
    filters.png   the first convolution's kernels
    maps.png      one test digit's feature maps through each convolution and pooling
    curves.png    loss and accuracy per epoch

    pip install 'nnf-framework[plot]'
    python examples/visualise.py [OUT]

The same from a terminal, after ``nnf train examples/specs/lenet5.toml``:

    nnf report runs/lenet5 -o report.html
    nnf show filters runs/lenet5 -o filters.png
    nnf show maps runs/lenet5 digit.png --invert -o maps.png   # dark ink on white -> MNIST's
    nnf show curves runs/lenet5 -o curves.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import nnf
from nnf.layers import Convolutional, Dense, Flatten, MaxPool2D, ReLU, Softmax


def main(out: str | Path = "visualise", epochs: int = 4) -> dict[str, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (x_train, y_train), (x_test, y_test) = nnf.datasets.mnist.load_data()  # bundled subset
    x_train, x_test = nnf.datasets.to_images(x_train), nnf.datasets.to_images(x_test)

    model = nnf.Sequential(
        [
            Convolutional(kernel_size=5, depth=8, padding="same", bias="channel", init="he"),
            ReLU(),
            MaxPool2D(),  # (8, 28, 28) -> (8, 14, 14)
            Convolutional(kernel_size=3, depth=16, bias="channel", init="he"),
            ReLU(),
            MaxPool2D(),  # (16, 12, 12) -> (16, 6, 6)
            Flatten(),
            Dense(output_size=10),
            Softmax(),
        ],
        input_shape=(1, 28, 28),
        name="small_cnn",
    )
    history = model.fit(
        x_train,
        y_train,
        epochs=epochs,
        batch_size=32,
        loss="categorical_crossentropy",
        validation_split=0.1,
        seed=0,
    )

    # One page with everything; sample=7 picks the test digit whose feature maps are drawn.
    nnf.report(model, x_test, y_test, history=history, path=out / "report.html", sample=7)
    # Single pictures: the same drawing code as the report (and as `nnf show`).
    nnf.visual.draw_filters(model, out / "filters.png")
    nnf.visual.draw_feature_maps(model, x_test[7], out / "maps.png")
    nnf.visual.draw_curves(history.epochs, out / "curves.png")
    written = {p.stem: p for p in sorted(out.iterdir()) if p.suffix in (".html", ".png")}
    for path in written.values():
        print(f"wrote {path} ({path.stat().st_size / 1024:,.0f} KiB)")
    return written


if __name__ == "__main__":
    main(*sys.argv[1:2])
