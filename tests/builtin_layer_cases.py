"""Every built-in layer with its options, as (registry key, config, input sample shape).

Shared by the conformance-kit and ONNX-export tests, so both cover the same configurations.
"""

from __future__ import annotations

from typing import Any

CASES: list[tuple[str, dict[str, Any], tuple[int, ...]]] = [
    ("nnf.Dense.v1", {"output_size": 4}, (5,)),
    ("nnf.Dense.v1", {"output_size": 3, "init": "he"}, (6,)),
    ("nnf.Dense.v1", {"input_size": 5, "output_size": 4, "init": "normal"}, (5, 1)),  # tutorial
    ("nnf.Convolutional.v1", {"kernel_size": 3, "depth": 2}, (2, 6, 6)),  # per-position bias
    ("nnf.Convolutional.v1", {"kernel_size": 3, "depth": 2, "bias": "channel"}, (2, 5, 6)),
    ("nnf.Convolutional.v1", {"kernel_size": 2, "depth": 3, "padding": "same"}, (2, 5, 5)),
    ("nnf.Convolutional.v1", {"kernel_size": 3, "depth": 2, "stride": 2}, (1, 7, 8)),
    (
        "nnf.Convolutional.v1",
        {"kernel_size": 4, "depth": 2, "stride": 2, "padding": "same", "bias": "channel"},
        (2, 7, 6),
    ),
    (
        "nnf.Convolutional.v1",
        {"input_shape": [1, 5, 5], "kernel_size": 3, "depth": 2, "init": "normal"},
        (1, 5, 5),
    ),
    ("nnf.Reshape.v1", {"input_shape": [2, 3, 3], "output_shape": [18, 1]}, (2, 3, 3)),
    ("nnf.Reshape.v1", {"input_shape": [12], "output_shape": [3, 2, 2]}, (12,)),
    ("nnf.Flatten.v1", {}, (2, 3, 3)),
    ("nnf.Tanh.v1", {}, (6,)),
    ("nnf.Tanh.v1", {}, (4, 1)),
    ("nnf.Sigmoid.v1", {}, (2, 3, 3)),
    ("nnf.ReLU.v1", {}, (7,)),
    ("nnf.LeakyReLU.v1", {}, (7,)),
    ("nnf.LeakyReLU.v1", {"alpha": 0.2}, (2, 4)),
    ("nnf.Softmax.v1", {}, (5,)),
    ("nnf.Softmax.v1", {}, (5, 1)),  # tutorial column: normalised over the class axis
    ("nnf.MaxPool2D.v1", {}, (2, 4, 4)),
    ("nnf.MaxPool2D.v1", {"pool_size": 3, "stride": 2}, (2, 7, 7)),
    ("nnf.MaxPool2D.v1", {"pool_size": 2, "stride": 1}, (1, 4, 5)),
    ("nnf.Dropout.v1", {}, (6,)),
    ("nnf.Dropout.v1", {"rate": 0.2}, (2, 3, 3)),
    ("nnf.Dropout.v1", {"rate": 0.0}, (4,)),
]


def case_id(case: tuple[str, dict[str, Any], tuple[int, ...]]) -> str:
    key, config, shape = case
    options = ",".join(f"{k}={v}" for k, v in config.items())
    return f"{key.split('.')[1]}[{options}]{shape}".replace(" ", "")
