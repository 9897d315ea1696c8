"""In-process A/B of where ``predict``'s parts run: worker processes against threads.

    python benchmarks/ab_predict.py [--rounds 8] [--passes 3]

LeNet-5 (untrained weights: the time does not depend on them) predicts the MNIST test set
``--passes`` times per variant, the variants alternating (order reversed every other round,
round 0 warm-up). ``processes`` is the default since session 8; ``threads`` forces
``parallel="threads"``. Prints images/s per variant and the same-round ratios.
"""

from __future__ import annotations

import argparse
import statistics
import time

import data
import nnf_side
import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--passes", type=int, default=3)
    args = p.parse_args()
    x, _ = data.mnist_test()
    model = nnf_side.lenet5(0)
    reference = model.predict(x[:512], parallel="single")
    speed: dict[str, list[float]] = {"threads": [], "processes": []}
    for r in range(args.rounds):
        names = ["threads", "processes"] if r % 2 else ["processes", "threads"]
        for name in names:
            start = time.perf_counter()
            for _ in range(args.passes):
                out = model.predict(x, batch_size=256, parallel=name)
            seconds = time.perf_counter() - start
            assert np.allclose(out[:512], reference, atol=1e-5)
            if r:
                speed[name].append(args.passes * len(x) / seconds)
    for name, values in speed.items():
        print(f"{name}: {statistics.median(values):,.0f} images/s", [round(v) for v in values])
    ratios = [a / b for a, b in zip(speed["processes"], speed["threads"])]
    print(
        f"processes / threads: {statistics.median(ratios):.2f}x "
        f"({min(ratios):.2f}-{max(ratios):.2f})"
    )


if __name__ == "__main__":
    main()
