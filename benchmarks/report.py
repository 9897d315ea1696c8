"""Turn the raw per-run measurements of run.py into Markdown tables."""

from __future__ import annotations

import statistics
from typing import Any

SIDE_NAMES = {
    "nnf": "nnf",
    "nnf1": "nnf 1 thr",
    "nnfbase": "nnf baseline",
    "tutorial": "tutorial code",
    "torch1": "torch 1 thr",
    "torch2": "torch 2 thr",
    "onnxrt": "ONNX Runtime",
}


def throughputs(runs: list[dict[str, Any]]) -> list[float]:
    return [r["items"] / r["seconds"] for r in runs if "seconds" in r]


def fmt_rate(values: list[float]) -> str:
    """``12,345 ±4%``: the median and half the min-max range relative to it."""
    if not values:
        return "—"
    med = statistics.median(values)
    spread = (max(values) - min(values)) / 2 / med * 100 if med else 0.0
    return f"{med:,.0f} ±{spread:.0f}%"


def fmt_ratio(values: list[float]) -> str:
    """``1.23x (1.10-1.31)``: median of per-round ratios and their range."""
    if not values:
        return "—"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.2f}x"
    return f"{med:.2f}x ({min(values):.2f}-{max(values):.2f})"


def round_ratios(num: list[float], den: list[float]) -> list[float]:
    """Ratios of runs made in the same round (the two sides alternate within a round)."""
    return [a / b for a, b in zip(num, den) if b > 0]


def mib(kib: float) -> str:
    return f"{kib / 1024:,.0f}"


def fmt_mem(runs: list[dict[str, Any]]) -> str:
    """``peak (+growth)`` in MiB: highest RSS during the work and its rise above the start."""
    runs = [r for r in runs if "peak_rss_kib" in r]
    if not runs:
        return "—"
    peak = max(r["peak_rss_kib"] for r in runs)
    growth = max(0, max(r["peak_rss_kib"] - r["start_rss_kib"] for r in runs))
    return f"{mib(peak)} (+{mib(growth)})"


def memory_runs(result: dict[str, Any], key: str, side: str) -> list[dict[str, Any]]:
    """The runs whose peak RSS counts: the untimed memory runs when the job made them (they
    alone include nnf's worker processes), else the timed ones."""
    kept = result.get("memory_runs", {}).get(key, {}).get(side, [])
    return kept or result["runs"][key].get(side, [])


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _unavailable(result: dict[str, Any], side: str) -> str:
    err = result["errors"].get(side)
    return "n/a" if err else "—"


def throughput_table(results: list[dict[str, Any]], gemm: float) -> str:
    """One row per job: throughput of each side, nnf's ratios, nnf's share of GEMM speed."""
    sides = ["nnf", "nnf1", "nnfbase", "tutorial", "torch1", "torch2", "onnxrt"]
    used = [s for s in sides if any(s in r["sides"] for r in results)]
    has_tutorial = "tutorial" in used
    has_base = "nnfbase" in used
    has_torch = any(s in used for s in ("torch1", "torch2"))
    has_onnx = "onnxrt" in used
    header = ["job (items/s)", *(SIDE_NAMES[s] for s in used)]
    header += ["nnf / baseline"] * has_base
    header += ["nnf / tutorial"] * has_tutorial + ["nnf / best torch"] * has_torch
    header += ["nnf / ONNX Runtime"] * has_onnx
    header += ["nnf GFLOP/s (% of GEMM)"]
    rows = []
    for r in results:
        runs = r["runs"][""]
        rates = {s: throughputs(runs.get(s, [])) for s in used}
        row = [r["title"]]
        for s in used:
            if s not in r["sides"]:
                row.append("")
            else:
                row.append(fmt_rate(rates[s]) if rates[s] else _unavailable(r, s))
        nnf = rates.get("nnf", [])
        if has_base:
            base = rates.get("nnfbase", [])
            row.append(fmt_ratio(round_ratios(nnf, base)) if nnf and base else "—")
        if has_tutorial:
            row.append(fmt_ratio(round_ratios(nnf, rates["tutorial"])) if nnf else "—")
        t1, t2 = rates.get("torch1", []), rates.get("torch2", [])
        best = [max(a, b) for a, b in zip(t1, t2)] if t1 and t2 else (t1 or t2)
        if has_torch:
            row.append(fmt_ratio(round_ratios(nnf, best)) if nnf and best else "—")
        if has_onnx:
            ort = rates.get("onnxrt", [])
            row.append(fmt_ratio(round_ratios(nnf, ort)) if nnf and ort else "")
        if nnf:
            gflops = statistics.median(nnf) * r["flops_per_item"] / 1e9
            row.append(f"{gflops:.1f} ({gflops / gemm * 100:.1f}%)")
        else:
            row.append("—")
        rows.append(row)
    return _table(header, rows)


def memory_table(results: list[dict[str, Any]]) -> str:
    """Peak RSS per side during the work, MiB (growth above the process's start RSS)."""
    sides = ["nnf", "nnf1", "tutorial", "torch1", "torch2"]
    used = [s for s in sides if any(s in r["sides"] for r in results)]
    header = ["job: peak RSS MiB (+rise)", *(SIDE_NAMES[s] for s in used), "last loss per side"]
    rows = []
    for r in results:
        runs = r["runs"][""]
        row = [r["title"]]
        losses = []
        for s in used:
            row.append(fmt_mem(memory_runs(r, "", s)) if s in r["sides"] else "")
            vals = [x["loss"] for x in runs.get(s, []) if "loss" in x]
            if vals:
                losses.append(f"{SIDE_NAMES[s]} {statistics.median(vals):.3f}")
        row.append(", ".join(losses) or "—")
        rows.append(row)
    return _table(header, rows)


def scaling_table(result: dict[str, Any], label: str) -> str:
    """One row per variant (batch size or dataset size): throughput and memory of each side."""
    sides = [s for s in result["sides"]]
    header = [label]
    for s in sides:
        header += [f"{SIDE_NAMES[s]} img/s", f"{SIDE_NAMES[s]} peak MiB (+rise)"]
    if "nnf" in sides and len(sides) > 1:
        header.append("nnf / " + SIDE_NAMES[sides[-1]])
    rows = []
    for key, runs in result["runs"].items():
        row = [key.split("=")[-1]]
        for s in sides:
            row += [fmt_rate(throughputs(runs.get(s, []))), fmt_mem(memory_runs(result, key, s))]
        if "nnf" in sides and len(sides) > 1:
            ratios = round_ratios(
                throughputs(runs.get("nnf", [])), throughputs(runs.get(sides[-1], []))
            )
            row.append(fmt_ratio(ratios))
        rows.append(row)
    return _table(header, rows)


def growth_table(result: dict[str, Any], gemm: float) -> str:
    """One row per (width, input size): images/s of each side, nnf / best torch (same-round
    ratios), each side's GFLOP/s as a share of the GEMM ceiling, and peak memory."""
    sides = list(result["sides"])
    torch_sides = [s for s in sides if s.startswith("torch")]
    header = ["width", "input", "MFLOP/img"]
    header += [f"{SIDE_NAMES[s]} img/s" for s in sides]
    if "nnf" in sides and torch_sides:
        header.append("nnf / best torch")
    header += [f"{SIDE_NAMES[s]} % of GEMM" for s in sides]
    header += [f"{SIDE_NAMES[s]} peak MiB (+rise)" for s in sides]
    rows = []
    for key, runs in result["runs"].items():
        fields = dict(part.split("=") for part in key.split(", "))
        done = [r for s in sides for r in runs.get(s, []) if "flops_per_item" in r]
        flops = done[0]["flops_per_item"] if done else 0
        row = [fields.get("width", "?"), fields.get("size", "?"), f"{flops / 1e6:,.0f}"]
        rates = {s: throughputs(runs.get(s, [])) for s in sides}
        row += [fmt_rate(rates[s]) for s in sides]
        if "nnf" in sides and torch_sides:
            best = [max(v) for v in zip(*(rates[s] for s in torch_sides))]
            row.append(fmt_ratio(round_ratios(rates["nnf"], best)))
        for s in sides:
            med = statistics.median(rates[s]) if rates[s] else 0.0
            row.append(f"{med * flops / 1e9 / gemm * 100:.1f}%" if med and gemm else "—")
        row += [fmt_mem(memory_runs(result, key, s)) for s in sides]
        rows.append(row)
    return _table(header, rows)


def fashion_table(result: dict[str, Any]) -> str:
    header = ["side", "seconds", "images/s", "test accuracy", "peak RSS MiB (+rise)", "loss"]
    rows = []
    for s in result["sides"]:
        runs = [x for x in result["runs"][""].get(s, []) if "seconds" in x]
        if not runs:
            rows.append([SIDE_NAMES[s], _unavailable(result, s), "", "", "", ""])
            continue
        sec = statistics.median(x["seconds"] for x in runs)
        acc = statistics.median(x["test_accuracy"] for x in runs)
        loss = statistics.median(x["loss"] for x in runs)
        rate = fmt_rate(throughputs(runs))
        mem = fmt_mem(memory_runs(result, "", s))
        rows.append([SIDE_NAMES[s], f"{sec:.1f}", rate, f"{acc:.4f}", mem, f"{loss:.3f}"])
    return _table(header, rows)
