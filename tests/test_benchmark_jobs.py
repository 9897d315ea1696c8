"""The benchmark suite's own arithmetic: the growth job's FLOP counts match the nets it builds,
and its table renders a row per variant (benchmarks/ is not part of the package)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import jobs
import nnf_side
import report
from nnf.parallel import host


@pytest.mark.parametrize(("width", "size"), [(16, 28), (32, 32), (64, 64)])
def test_growth_flops_are_the_built_nets(width: int, size: int) -> None:
    model = nnf_side.cifar_sized(0, width=width, size=size)
    macs = sum(host.forward_macs(layer) for layer in model.layers)
    biases = sum(
        int(p.size) for layer in model.layers for k, p in layer.params.items() if "bias" in k
    )
    assert macs - biases == jobs.cifar_style_macs(width, size)
    assert jobs.cifar_style_macs(32, 32) == jobs.CIFAR_MACS  # the (g) net is one of them


def test_growth_runs_fit_the_budget() -> None:
    for width in jobs.GROWTH_WIDTHS:
        for size in jobs.GROWTH_SIZES:
            n = jobs.growth_images(width, size, quick=True)
            assert n >= jobs.GROWTH_LEAST["quick"] and n % 64 == 0
            if n > jobs.GROWTH_LEAST["quick"]:
                assert n * 6 * jobs.cifar_style_macs(width, size) <= jobs.GROWTH_BUDGET["quick"]


def test_growth_table_has_a_row_per_variant() -> None:
    def run(rate: float, flops: int) -> dict:
        return {"items": 64, "seconds": 64 / rate, "flops_per_item": flops}

    variants = [{"width": 16, "size": 28}, {"width": 32, "size": 32}]
    runs = {}
    for v in variants:
        flops = 6 * jobs.cifar_style_macs(v["width"], v["size"])
        runs[", ".join(f"{k}={x}" for k, x in v.items())] = {
            "nnf": [run(1000, flops), run(1100, flops)],
            "torch1": [run(500, flops), run(400, flops)],
            "torch2": [run(800, flops), run(300, flops)],
        }
    result = {"sides": ["nnf", "torch1", "torch2"], "runs": runs}
    lines = report.growth_table(result, gemm=100.0).splitlines()
    assert len(lines) == 2 + len(variants)
    first = [c.strip() for c in lines[2].strip("|").split("|")]
    assert first[:3] == ["16", "28", "11"]
    assert first[6] == "2.00x (1.25-2.75)"  # nnf / best torch of each round: 1000/800, 1100/400
    assert first[7] == f"{1050 * 6 * jobs.cifar_style_macs(16, 28) / 1e9:.1f}%"  # of 100 GFLOP/s
