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
    ("nnf.BatchNorm.v1", {}, (5,)),
    ("nnf.BatchNorm.v1", {"momentum": 0.5, "epsilon": 1e-3}, (3, 4, 4)),
    ("nnf.AvgPool2D.v1", {}, (2, 4, 4)),
    ("nnf.AvgPool2D.v1", {"pool_size": 3, "stride": 2}, (2, 7, 7)),
    ("nnf.AvgPool2D.v1", {"pool_size": 2, "stride": 1}, (1, 4, 5)),
    ("nnf.AvgPool2D.v1", {"pool_size": 3, "stride": 2, "padding": "same"}, (2, 7, 6)),
    ("nnf.AvgPool2D.v1", {"pool_size": 2, "padding": "same"}, (1, 5, 5)),
    ("nnf.GlobalAveragePooling2D.v1", {}, (3, 4, 5)),
    # Residual without a projection (the shapes agree), with one (images and features), and
    # a spec-style table next to a saved-style record of its inner layers.
    (
        "nnf.Residual.v1",
        {"layers": [{"type": "Dense", "output_size": 5}, {"type": "Tanh"}]},
        (5,),
    ),
    (
        "nnf.Residual.v1",
        {
            "layers": [
                {
                    "type": "Convolutional",
                    "kernel_size": 3,
                    "depth": 3,
                    "stride": 2,
                    "padding": "same",
                    "bias": "channel",
                },
                {"type": "Sigmoid"},  # before BatchNorm, which would cancel the bias's gradient
                {"type": "BatchNorm"},
            ]
        },
        (2, 5, 5),
    ),
    (
        "nnf.Residual.v1",
        {
            "layers": [
                {"key": "nnf.Dense.v1", "version": 1, "name": "fc", "config": {"output_size": 4}},
            ],
            "projection": True,
        },
        (4,),
    ),
]


def case_id(case: tuple[str, dict[str, Any], tuple[int, ...]]) -> str:
    key, config, shape = case
    options = ",".join(f"{k}={v}" for k, v in config.items())
    return f"{key.split('.')[1]}[{options}]{shape}".replace(" ", "")
