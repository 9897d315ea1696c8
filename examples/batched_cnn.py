"""The tutorial's 0-vs-1 CNN trained with mini-batches instead of one sample at a time.

Same layers as examples/tutorial/mnist_conv.py, but sizes are inferred, the model trains with
batches of 32 through ``Sequential.fit``, and it is saved to one file and loaded back.

    python examples/batched_cnn.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import nnf
from nnf.layers import Convolutional, Dense, Flatten, Sigmoid


def main(epochs: int = 10) -> float:
    digits = nnf.datasets.load().subset([0, 1], rng=0)  # bundled data: 1,000 train, 200 test
    x_train, x_test = nnf.datasets.to_images(digits.x_train), nnf.datasets.to_images(digits.x_test)
    y_train, y_test = (
        nnf.datasets.one_hot(digits.y_train, 2),
        nnf.datasets.one_hot(digits.y_test, 2),
    )

    model = nnf.Sequential(
        [
            Convolutional(kernel_size=3, depth=5),  # (1, 28, 28) -> (5, 26, 26)
            Sigmoid(),
            Flatten(),  # -> 3,380: no 5 * 26 * 26 to work out by hand
            Dense(output_size=100),
            Sigmoid(),
            Dense(output_size=2),
            Sigmoid(),
        ],
        input_shape=(1, 28, 28),
    )
    model.summary()
    model.fit(
        x_train,
        y_train,
        epochs=epochs,
        batch_size=32,
        loss="binary_crossentropy",
        optimizer="sgd",
        learning_rate=0.5,
        seed=0,
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "zeros_and_ones.nnf"
        model.save(path)
        model = nnf.load(path)
    accuracy = model.evaluate(x_test, y_test)["accuracy"]
    print(f"test accuracy {accuracy:.1%} on {len(x_test)} digits")
    return accuracy


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
