"""Run an nnf model with ONNX Runtime, after ``nnf export``: no nnf needed at inference.

    pip install 'nnf-framework[onnx]'
    nnf train examples/specs/lenet5.toml                  # writes runs/lenet5/last.nnf
    nnf export runs/lenet5/last.nnf -o lenet5.onnx
    python examples/onnx_inference.py lenet5.onnx         # classifies 10 bundled test digits

The exported graph takes float32 batches shaped (N, *input_shape) (channels first: (N, 1, 28,
28) for LeNet-5) and returns what the nnf model returns (here Softmax probabilities).
``main()`` without a file trains a small model and exports it first (what the test runs).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np


def classify(onnx_path: str | Path, images: np.ndarray) -> np.ndarray:
    """Probabilities ``(N, classes)`` for float32 images ``(N, C, H, W)``, by ONNX Runtime."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: images.astype(np.float32)})[0]


def export_a_trained_model(folder: Path, epochs: int = 1) -> tuple[Path, object]:
    """Train a small CNN on the bundled digits and export it (``nnf export`` in Python)."""
    import nnf
    from nnf.layers import Convolutional, Dense, Flatten, MaxPool2D, ReLU, Softmax

    (x, y), _ = nnf.datasets.mnist.load_data()
    layers = [Convolutional(kernel_size=3, depth=6, bias="channel"), ReLU(), MaxPool2D()]
    model = nnf.Sequential(
        [*layers, Flatten(), Dense(output_size=10), Softmax()], input_shape=(1, 28, 28)
    )
    model.fit(nnf.datasets.to_images(x), y, epochs=epochs, loss="categorical_crossentropy", seed=0)
    path = folder / "model.onnx"
    nnf.export.export(model, path, format="onnx")
    return path, model


def main(onnx_path: str | None = None) -> float:
    """Classify 10 bundled test digits with ONNX Runtime; returns the largest difference from
    nnf's own prediction (0 when no nnf model is at hand)."""
    import nnf

    _, (x_test, y_test) = nnf.datasets.mnist.load_data()
    images = nnf.datasets.to_images(x_test[:10])  # (10, 1, 28, 28) float32 in [0, 1]
    with tempfile.TemporaryDirectory() as folder:
        model = None
        if onnx_path is None:
            path, model = export_a_trained_model(Path(folder))
        else:
            path = Path(onnx_path)
        probabilities = classify(path, images)
    for p, label in zip(probabilities, y_test[:10]):
        print(f"predicted {p.argmax()} ({p.max():.0%})  true {label}")
    if model is None:
        return 0.0
    difference = float(np.max(np.abs(probabilities - model.predict(images))))
    print(f"largest difference from nnf's predict: {difference:.2e}")
    return difference


if __name__ == "__main__":
    main(*sys.argv[1:2])
