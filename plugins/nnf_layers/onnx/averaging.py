"""AvgPool2D -> AveragePool (padded positions left out of each mean); GlobalAveragePooling2D
-> GlobalAveragePool and a reshape from (N, C, 1, 1) to (N, C)."""

from __future__ import annotations

from typing import Any


def avg_pool(layer: Any, graph: Any, x: str) -> str:
    p, s = int(layer.pool_size), int(layer.step)
    top, bottom, left, right = layer.pads
    return graph.node(
        "AveragePool",
        [x],
        kernel_shape=[p, p],
        strides=[s, s],
        pads=[top, left, bottom, right],
        count_include_pad=0,
    )


def global_average_pooling(layer: Any, graph: Any, x: str) -> str:
    pooled = graph.node("GlobalAveragePool", [x])
    return graph.node("Reshape", [pooled, graph.ints([0, *layer.out_shape])])
