"""Run the benchmark suite and print its tables (see benchmarks/README.md).

    python benchmarks/run.py [--quick] [--repeats N] [--jobs a,b,...] [--json out.json]

Each (job, side) runs in its own worker process, so peak RSS is per side. Within a job the
sides take turns, one run each per round (the order rotates every round), and each ratio
compares runs of the same round; medians are reported. Torch columns appear when torch is
installed; the nnf and tutorial columns never need it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import jobs  # noqa: E402
import machine  # noqa: E402
import report  # noqa: E402

ALIASES = {
    "a": ["tutorial_sgd"],
    "b": ["tutorial_batch32"],
    "c": ["lenet_train"],
    "d": ["lenet_infer"],
    "e": ["scale_batch", "scale_predict"],
    "f": ["fashion"],
    "g": ["cifar_train"],
    "h": ["cifar_infer"],
    "r": ["resnet_train"],  # issue 19
    "w": ["growth"],  # issue 15
}
PAUSE = 0.2  # seconds between runs, so that idle BLAS/OpenMP threads of the last run sleep


class Worker:
    """A worker.py process for one (job, side); its stderr goes to a log file."""

    def __init__(self, job: str, side: str, quick: bool) -> None:
        env = dict(os.environ)
        if side == "nnf1":
            env["OPENBLAS_NUM_THREADS"] = "1"
        if side == "nnfbase":  # nnf from another checkout (--baseline), ahead on the path
            tree = Path(os.environ["NNF_BENCH_BASELINE"])
            paths = [str(tree / "framework"), str(tree / "plugins"), env.get("PYTHONPATH", "")]
            env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        self.log = tempfile.NamedTemporaryFile("w+", prefix=f"bench-{job}-{side}-", suffix=".log")
        cmd = [sys.executable, str(HERE / "worker.py"), job, side, *(["--quick"] if quick else [])]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env
        )
        self.hello = self._recv()

    def _recv(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.log.seek(0)
            tail = self.log.read()[-2000:]
            return {"ready": False, "error": f"worker exited: {tail.strip().splitlines()[-1:]}"}
        return json.loads(line)

    def request(self, **msg: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": "run", **msg}) + "\n")
        self.proc.stdin.flush()
        return self._recv()

    def close(self) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            try:
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def variant_key(variant: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in variant.items())


def run_job(
    job: jobs.Job, sides: list[str], repeats: int, quick: bool, wait_idle: float = 0.0
) -> dict[str, Any]:
    """Start one worker per side, warm each up, then run ``repeats`` alternating rounds."""
    variants = job.variant_list(quick)
    result: dict[str, Any] = {
        "name": job.name,
        "title": job.title,
        "kind": job.kind,
        "unit": job.unit,
        "flops_per_item": job.flops_per_item,
        "params": job.params(quick),
        "sides": sides,
        "errors": {},
        "setup_seconds": {},
        "runs": {variant_key(v): {s: [] for s in sides} for v in variants},
        "memory_runs": {variant_key(v): {s: [] for s in sides} for v in variants},
    }
    workers: dict[str, Worker] = {}
    result["load_before"] = os.getloadavg()[0]
    try:
        for side in sides:
            w = Worker(job.name, side, quick)
            if w.hello.get("ready"):
                workers[side] = w
                result["setup_seconds"][side] = w.hello["setup_seconds"]
            else:
                result["errors"][side] = w.hello.get("error", "failed to start")
                w.close()
        for side, w in workers.items():
            reply = w.request(variant=variants[0], warmup=True)
            if "error" in reply:
                result["errors"][side] = reply["error"]
        live = [s for s in sides if s in workers and s not in result["errors"]]
        for rnd in range(repeats):
            order = live[rnd % len(live) :] + live[: rnd % len(live)] if live else []
            for variant in variants:
                for side in order:
                    time.sleep(PAUSE)
                    busy = machine.wait_until_idle(wait_idle) if wait_idle else machine.cpu_busy()
                    reply = workers[side].request(variant=variant, children=not job.memory_run)
                    reply["busy_before"] = busy
                    if "error" in reply:
                        result["errors"][side] = reply["error"]
                    else:
                        result["runs"][variant_key(variant)][side].append(reply)
                    print(_progress(job, side, variant, reply), file=sys.stderr, flush=True)
        if job.memory_run:  # untimed: the only runs that sample nnf's worker processes
            for variant in variants:
                for side in live:
                    if side in result["errors"]:
                        continue
                    reply = workers[side].request(variant=variant, children=True)
                    if "error" in reply:
                        result["errors"][side] = reply["error"]
                    else:
                        result["memory_runs"][variant_key(variant)][side].append(reply)
    finally:
        for w in workers.values():
            w.close()
    result["load_after"] = os.getloadavg()[0]
    return result


def _progress(job: jobs.Job, side: str, variant: dict[str, Any], reply: dict[str, Any]) -> str:
    what = f"  {job.name} {variant_key(variant)} {side}".rstrip()
    if "error" in reply:
        return f"{what}: ERROR {reply['error']}"
    rate = reply["items"] / reply["seconds"]
    peak = reply["peak_rss_kib"] / 1024
    return f"{what}: {reply['seconds']:.2f}s, {rate:,.0f} {job.unit}/s, peak {peak:.0f} MiB"


def select_jobs(spec: str | None, quick: bool, no_fashion: bool) -> list[str]:
    if spec:
        names: list[str] = []
        for part in spec.split(","):
            part = part.strip()
            for name in ALIASES.get(part, [part]):
                if name not in jobs.JOBS:
                    raise SystemExit(
                        f"unknown job {part!r}: use a-h, r, w or one of {', '.join(jobs.JOBS)}"
                    )
                names.append(name)
        return names
    return [n for n, j in jobs.JOBS.items() if not (j.optional and (quick or no_fashion))]


# Some hosts set OPENBLAS_CORETYPE for old OpenBLAS builds that fail on their CPU; NumPy's
# current OpenBLAS then runs that (older) core's kernels: Haswell's on an AVX-512 CPU halved
# the GEMM ceiling here (benchmarks/README.md, "Session 9"). torch's kernels ignore it.
_CORETYPE_NOTE = (
    "Note: OPENBLAS_CORETYPE={} makes NumPy's OpenBLAS run that core's kernels whatever this "
    "CPU is (torch ignores it). To measure the kernels OpenBLAS would pick, unset it and "
    "OPENBLAS_L2_SIZE in this command alone: `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "
    "python benchmarks/run.py ...`."
)


def render(out: dict[str, Any]) -> str:
    """The Markdown report: machine, GEMM ceiling, then one table per kind of job."""
    m = out["machine"]
    gemm = out["gemm"]
    blas = "; ".join(" ".join(f"{k}={v}" for k, v in b.items()) for b in m["blas"])
    lines = [
        f"Measured {m['date']} on {m['cpu']}, {m['cores']} cores; Python {m['python']}, "
        f"NumPy {m['numpy']} ({blas}); torch {m['torch'] or 'not installed'}; "
        f"env {m['env'] or '{}'}.",
        f"Command: `{out['command']}` ({out['repeats']} rounds, {out['seconds']:.0f} s).",
        f"float32 GEMM 2048^3 (NumPy): {gemm['median']:.0f} GFLOP/s median, "
        f"{gemm['best']:.0f} best (measured before and after the jobs).",
        "",
    ]
    if "OPENBLAS_CORETYPE" in m["env"]:
        lines += [_CORETYPE_NOTE.format(m["env"]["OPENBLAS_CORETYPE"]), ""]
    results = out["results"]
    thr = [r for r in results if r["kind"] == "throughput" and r["name"] != "fashion"]
    if thr:
        lines += [
            "Throughput (median ±half-range over rounds; ratios: median of same-round ratios "
            "(range)):",
            "",
            report.throughput_table(thr, gemm["median"]),
            "",
            report.memory_table(thr),
            "",
        ]
    for r in results:
        if r["name"] == "scale_batch":
            lines += [f"{r['title']}:", "", report.scaling_table(r, "batch size"), ""]
        elif r["name"] == "scale_predict":
            lines += [f"{r['title']}:", "", report.scaling_table(r, "images"), ""]
        elif r["name"] == "fashion":
            lines += [f"{r['title']}:", "", report.fashion_table(r), ""]
        elif r["name"] == "growth":
            lines += [f"{r['title']}:", "", report.growth_table(r, gemm["median"]), ""]
    busy = []
    for r in results:
        before = [
            x["busy_before"] for runs in r["runs"].values() for xs in runs.values() for x in xs
        ]
        if before and statistics.median(before) > 0.2:
            busy.append(f"{r['name']} ({statistics.median(before) * 100:.0f}%)")
    if busy:
        lines += [
            "Warning: other processes kept the CPUs busy between runs (median share of the "
            f"machine busy just before a run): {', '.join(busy)}. Multi-threaded BLAS and "
            "OpenMP figures suffer most; compare ratios only, or rerun with --wait-idle.",
            "",
        ]
    errors = [(r["name"], s, e) for r in results for s, e in r["errors"].items()]
    if errors:
        lines += ["Sides that did not run:", ""]
        lines += [f"- {name} / {side}: {err}" for name, side, err in errors]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, 3 rounds: a few minutes")
    p.add_argument("--repeats", type=int, default=None, help="rounds per job (default 5, quick 3)")
    p.add_argument("--jobs", help="comma list of a-h, r, w or job names: " + ", ".join(jobs.JOBS))
    p.add_argument("--sides", help="restrict sides, e.g. nnf,torch2 (nnf1 adds nnf on 1 thread)")
    p.add_argument(
        "--baseline",
        metavar="DIR",
        help="add side nnfbase: nnf from the checkout DIR (e.g. main), interleaved with nnf",
    )
    p.add_argument(
        "--no-fashion",
        action="store_true",
        help="skip the long jobs: Fashion-MNIST (f), growth (w)",
    )
    p.add_argument("--json", help="also write every measurement to this file")
    p.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="S",
        help="before each run wait up to S seconds for other processes to leave the CPUs idle",
    )
    args = p.parse_args(argv)

    quick = args.quick
    repeats = args.repeats or (3 if quick else 5)
    names = select_jobs(args.jobs, quick, args.no_fashion)
    wanted = set(args.sides.split(",")) if args.sides else None
    if not machine.torch_available():
        print("torch is not installed: the torch columns are left out", file=sys.stderr)
        unwanted = set(jobs.TORCH_SIDES)
    else:
        unwanted = set()
    start = time.perf_counter()
    info = machine.describe()
    print(f"machine: {info}", file=sys.stderr)
    gemm_runs = [machine.gemm_gflops()]
    results = []
    for name in names:
        job = jobs.JOBS[name]
        sides = [s for s in job.sides if (wanted is None or s in wanted) and s not in unwanted]
        if wanted and "nnf1" in wanted and "nnf" in job.sides:
            sides.insert(1, "nnf1")
        if args.baseline and "nnf" in sides:
            os.environ["NNF_BENCH_BASELINE"] = str(Path(args.baseline).resolve())
            sides.insert(sides.index("nnf") + 1, "nnfbase")
        if name == "fashion" and not jobs.data.fashion_available():
            print("skipping fashion: dataset-fashion-mnist is not installed", file=sys.stderr)
            continue
        n = 1 if name == "fashion" else (min(repeats, 3) if job.kind == "scaling" else repeats)
        print(f"{job.title} ({n} rounds)", file=sys.stderr, flush=True)
        results.append(run_job(job, sides, n, quick, args.wait_idle))
    gemm_runs.append(machine.gemm_gflops())
    gemm = {
        "median": statistics.median(g["median"] for g in gemm_runs),
        "best": max(g["best"] for g in gemm_runs),
        "runs": gemm_runs,
    }
    out = {
        "command": "python benchmarks/run.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "repeats": repeats,
        "machine": info,
        "gemm": gemm,
        "results": results,
        "seconds": time.perf_counter() - start,
    }
    print(render(out))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
