"""Your own data, from Python and from `nnf train`: an image folder and a CSV file.

    python examples/own_data/own_data.py [WORK_FOLDER]

Writes `digits/<class>/*.png` (from the bundled MNIST subset, so the example needs no
download) and `flowers.csv`, trains a small CNN on the images and an MLP on the CSV
with `Sequential.fit`, then runs the same through `nnf train` and `nnf predict`.
Needs Pillow (pip install 'nnf-framework[images]').
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import nnf
import numpy as np
from nnf.layers import Convolutional, Dense, Flatten, MaxPool2D, ReLU, Softmax

CNN_SPEC = """
name = "digits"
input_shape = [1, 28, 28]
layers = [
  { type = "Convolutional", kernel_size = 3, depth = 4, bias = "channel" },
  { type = "ReLU" },
  { type = "MaxPool2D", pool_size = 2 },
  { type = "Flatten" },
  { type = "Dense", output_size = 3 },
  { type = "Softmax" },
]
[training]
epochs = 3
validation_split = 0.2
seed = 0
"""

MLP_SPEC = """
name = "flowers"
input_shape = [2]
layers = [{ type = "Dense", output_size = 8 }, { type = "ReLU" },
          { type = "Dense", output_size = 3 }, { type = "Softmax" }]
[training]
epochs = 30
learning_rate = 0.05
seed = 0
"""


def write_image_folder(root: Path, per_class: int) -> None:
    """digits/{zero,one,two}/N.png from the bundled subset."""
    from PIL import Image

    data = nnf.datasets.load()
    for label, name in enumerate(["zero", "one", "two"]):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in np.flatnonzero(data.y_train == label)[:per_class]:
            Image.fromarray(data.x_train[i]).save(folder / f"{i}.png")


def write_csv(path: Path) -> None:
    """Two numeric features and a species name per row."""
    rng = np.random.default_rng(0)
    rows = ["petal_length,species,petal_width"]
    for _ in range(150):
        k = int(rng.integers(0, 3))
        length, width = 1.5 + 2 * k + rng.normal(0, 0.3), 0.3 + 0.8 * k + rng.normal(0, 0.15)
        rows.append(f"{length:.2f},{['setosa', 'versicolor', 'virginica'][k]},{width:.2f}")
    path.write_text("\n".join(rows) + "\n")


def nnf_cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from nnf.cli import main; main(sys.argv[1:])", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"nnf {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def main(work: str | Path, per_class: int = 60) -> dict[str, float]:
    work = Path(work)
    write_image_folder(work / "digits", per_class)
    write_csv(work / "flowers.csv")

    # Python: an image folder is a Dataset of (N, 1, 28, 28) uint8 images and class indices.
    images = nnf.datasets.load_image_folder(work / "digits")
    print(images, images.class_names)
    cnn = nnf.Sequential(
        [
            Convolutional(kernel_size=3, depth=4, bias="channel"),
            ReLU(),
            MaxPool2D(),
            Flatten(),
            Dense(output_size=3),
            Softmax(),
        ],
        input_shape=(1, 28, 28),
    )
    cnn.fit(
        images.x_train,
        images.y_train,
        epochs=3,
        validation_split=0.2,
        seed=0,
        verbose=2,
        class_names=images.class_names,
    )
    print("predicted:", cnn.predict_classes(images.x_train[:5]))

    # Python: a CSV with a named label column; species names become the model's class names.
    table = nnf.datasets.load_csv(work / "flowers.csv", label="species")
    mlp = nnf.Sequential(
        [Dense(output_size=8), ReLU(), Dense(output_size=3), Softmax()], input_shape=(2,)
    )
    mlp.fit(
        table.x_train,
        table.y_train,
        epochs=30,
        learning_rate=0.05,
        seed=0,
        verbose=0,
        class_names=table.class_names,
    )
    scores = mlp.evaluate(table.x_train, table.y_train)
    print("flowers:", scores, mlp.class_names)

    # The command line: the same data through `nnf train` and `nnf predict`.
    (work / "digits.toml").write_text(CNN_SPEC)
    (work / "flowers.toml").write_text(MLP_SPEC)
    print(
        nnf_cli(
            "train",
            str(work / "digits.toml"),
            "--data",
            str(work / "digits"),
            "-o",
            str(work / "runs" / "digits"),
            "-q",
        )
    )
    print(
        nnf_cli(
            "predict",
            str(work / "runs" / "digits" / "last.nnf"),
            str(work / "digits" / "two"),
            "--top",
            "2",
        ).splitlines()[0]
    )
    print(
        nnf_cli(
            "train",
            str(work / "flowers.toml"),
            "--data",
            str(work / "flowers.csv"),
            "--label-column",
            "species",
            "-o",
            str(work / "runs" / "flowers"),
            "-q",
        )
    )
    return scores


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="nnf-own-data-"))
