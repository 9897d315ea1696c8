"""Launched by tests/test_mpi.py under ``mpiexec -n N`` (or alone): ``predict`` and
``evaluate`` of a seeded CNN on ``SAMPLES`` samples, sharded with ``parallel="mpi"`` (or in
one process with ``single``); each rank writes its results to ``OUT/rank{R}.npz``.

    python score_worker.py OUT PARALLEL SAMPLES [--unbuilt] [--bad-rank R]

``--unbuilt``: predict with a model that is not built yet (no seed: every rank would draw
its own weights). ``--bad-rank R``: rank R passes samples of the wrong shape; the other ranks
catch RankFailedError and write its message and ``rank`` to ``OUT/failed{R}.txt``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from nnf.errors import RankFailedError
from train_worker import lenet


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("parallel")
    ap.add_argument("samples", type=int)
    ap.add_argument("--unbuilt", action="store_true")
    ap.add_argument("--bad-rank", type=int, default=-1)
    args = ap.parse_args()
    rank = int(os.environ.get("PMI_RANK", "0"))
    rng = np.random.default_rng(5)
    x, y = rng.random((args.samples, 1, 10, 10)), rng.integers(0, 3, args.samples)
    model = lenet()
    if not args.unbuilt:
        model.build(seed=11)
    if rank == args.bad_rank:
        x = x[:, :, :9]
    parallel = None if args.parallel == "single" else args.parallel
    computed = []  # how many samples this rank ran through the model
    local = model._predict
    model._predict = lambda x, *a, **k: computed.append(len(x)) or local(x, *a, **k)  # type: ignore[method-assign]
    try:
        pred = model.predict(x, batch_size=4, parallel=parallel)
        scores = model.evaluate(x, y, batch_size=4, parallel=parallel)
    except RankFailedError as error:
        (Path(args.out) / f"failed{rank}.txt").write_text(f"{error.rank}\n{error}\n")
        raise
    np.savez(
        Path(args.out) / f"rank{rank}.npz",
        pred=pred,
        computed=sum(computed),
        kernels=model.layers[0].params["kernels"],
        **{k: np.float64(v) for k, v in scores.items()},
    )


if __name__ == "__main__":
    main()
