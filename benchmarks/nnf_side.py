"""The benchmark jobs written with nnf's public API, as a user would write them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nnf
import numpy as np


def tutorial_network(seed: int) -> list[Any]:
    """The tutorial's network, built with nnf's tutorial-style layers (float32)."""
    from nnf.layers import Convolutional, Dense, Reshape, Sigmoid

    np.random.seed(seed)  # tutorial-style layers draw from NumPy's global RNG
    return [
        Convolutional((1, 28, 28), 3, 5),
        Sigmoid(),
        Reshape((5, 26, 26), (5 * 26 * 26, 1)),
        Dense(5 * 26 * 26, 100),
        Sigmoid(),
        Dense(100, 2),
        Sigmoid(),
    ]


def train_per_sample(network: list[Any], x: np.ndarray, y: np.ndarray, epochs: int, lr: float):
    """``nnf.train`` exactly as the tutorial calls it; returns the last epoch's mean error."""
    from nnf.losses import binary_cross_entropy, binary_cross_entropy_prime

    errors = nnf.train(
        network,
        binary_cross_entropy,
        binary_cross_entropy_prime,
        x,
        y,
        epochs=epochs,
        learning_rate=lr,
        verbose=False,
    )
    return errors[-1]


def tutorial_model(seed: int) -> nnf.Sequential:
    """The tutorial's network as a Sequential for mini-batch training (bias per position)."""
    from nnf.layers import Convolutional, Dense, Flatten, Sigmoid

    model = nnf.Sequential(
        [
            Convolutional(kernel_size=3, depth=5, bias="position"),
            Sigmoid(),
            Flatten(),
            Dense(output_size=100),
            Sigmoid(),
            Dense(output_size=2),
            Sigmoid(),
        ],
        input_shape=(1, 28, 28),
    )
    return model.build(seed=seed)


def lenet5(seed: int) -> nnf.Sequential:
    """LeNet-5 on 28x28 images, softmax output, float32."""
    from nnf.layers import Convolutional, Dense, Flatten, MaxPool2D, ReLU, Softmax

    model = nnf.Sequential(
        [
            Convolutional(kernel_size=5, depth=6, padding="same", bias="channel"),
            ReLU(),
            MaxPool2D(2),
            Convolutional(kernel_size=5, depth=16, bias="channel"),
            ReLU(),
            MaxPool2D(2),
            Flatten(),
            Dense(output_size=120, init="he"),
            ReLU(),
            Dense(output_size=84, init="he"),
            ReLU(),
            Dense(output_size=10),
            Softmax(),
        ],
        input_shape=(1, 28, 28),
    )
    return model.build(seed=seed)


RESNET_SPEC = Path(__file__).resolve().parents[1] / "examples" / "specs" / "resnet_cifar.toml"


def resnet(seed: int) -> nnf.Sequential:
    """The ResNet-style CIFAR network of ``examples/specs/resnet_cifar.toml``, float32."""
    from nnf.spec import build_model

    return build_model(RESNET_SPEC, seed=seed)


def fit_resnet(
    model: nnf.Sequential,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
) -> float:
    """``fit`` as the spec's [training] table sets it: AdamW, weight decay 5e-4, clipnorm 5."""
    from nnf.optimizers import AdamW

    history = model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        optimizer=AdamW(lr, weight_decay=5e-4, clipnorm=5.0),
        loss="categorical_crossentropy",
        seed=seed,
        verbose=0,
    )
    return float(history["loss"][-1])


def cifar_sized(
    seed: int, dtype: str = "float32", width: int = 32, size: int = 32
) -> nnf.Sequential:
    """The CIFAR-sized net: 3x32x32, three 3x3 "same" convolutions of 32/64/64 channels with
    a bias per channel, each followed by ReLU and a 2x2 max pool, Dense 256, Dense 10. The
    growth job varies it: ``width``, 2 ``width``, 2 ``width`` channels on 3x``size``x``size``."""
    from nnf.layers import Convolutional, Dense, Flatten, MaxPool2D, ReLU, Softmax

    layers: list[Any] = []
    for depth in (width, 2 * width, 2 * width):
        layers += [
            Convolutional(kernel_size=3, depth=depth, padding="same", bias="channel", init="he"),
            ReLU(),
            MaxPool2D(2),
        ]
    layers += [Flatten(), Dense(output_size=256, init="he"), ReLU(), Dense(output_size=10)]
    layers.append(Softmax())
    model = nnf.Sequential(layers, input_shape=(3, size, size), dtype=dtype)
    return model.build(seed=seed)


def fit(
    model: nnf.Sequential,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
    lr: float,
    loss: str,
    seed: int,
    momentum: float = 0.0,
) -> float:
    """``Sequential.fit`` with SGD (``momentum``); returns the last epoch's mean loss."""
    from nnf.optimizers import SGD

    history = model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        optimizer=SGD(momentum=momentum) if momentum else "sgd",
        learning_rate=lr,
        loss=loss,
        seed=seed,
        verbose=0,
    )
    return float(history["loss"][-1])


def predict(model: nnf.Sequential, x: np.ndarray, batch_size: int) -> np.ndarray:
    return model.predict(x, batch_size=batch_size)


def onnx_session(model: nnf.Sequential) -> Any:
    """An ONNX Runtime CPU session running nnf's own export of ``model`` (default threads)."""
    import onnxruntime
    from nnf.export import to_onnx

    proto = to_onnx(model)
    return onnxruntime.InferenceSession(
        proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def onnx_predict(session: Any, x: np.ndarray, batch_size: int) -> np.ndarray:
    """The session's outputs for ``x``, ``batch_size`` images at a time, into one array."""
    out = None
    for b in range(0, len(x), batch_size):
        part = session.run(["output"], {"input": x[b : b + batch_size]})[0]
        if out is None:
            out = np.empty((len(x), *part.shape[1:]), dtype=part.dtype)
        out[b : b + len(part)] = part
    assert out is not None
    return out


def accuracy(model: nnf.Sequential, x: np.ndarray, y: np.ndarray) -> float:
    return float((model.predict(x, batch_size=256).argmax(axis=1) == y).mean())
