"""Regression: fit y = sin(x) with a small network; float targets, mse, no accuracy.

    python examples/regression.py

The same from the command line, with a CSV whose last column is the target:

    nnf init reg.toml --template regression
    nnf train reg.toml --data examples/own_data/sine.csv
    nnf evaluate runs/regression/last.nnf --split train     # mae, rmse, r2
"""

from __future__ import annotations

import nnf
import numpy as np
from nnf.layers import Dense, Tanh


def main(epochs: int = 200) -> dict[str, float]:
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, size=(400, 1)).astype(np.float32)  # (N, 1): one feature per row
    y = np.sin(x[:, 0])  # (N,) floats: a regression target (one per sample)

    model = nnf.Sequential([Dense(output_size=32), Tanh(), Dense(output_size=1)], input_shape=(1,))
    # No loss given: the last layer (Dense) declares none, so the default is mse.
    history = model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=32,
        learning_rate=0.01,
        validation_split=0.2,
        seed=0,
        verbose=0,
    )
    print("last epoch:", {k: round(v, 4) for k, v in history.epochs[-1].items() if k != "seconds"})
    scores = model.evaluate(x, y)  # {'loss', 'mae', 'rmse', 'r2'}: no accuracy for regression
    print("evaluate:", {k: round(v, 4) for k, v in scores.items()})
    grid = np.linspace(-3, 3, 5, dtype=np.float32)[:, None]
    for a, b in zip(grid[:, 0], model.predict(grid)[:, 0]):
        print(f"sin({a:+.2f}) = {np.sin(a):+.3f}, predicted {b:+.3f}")
    return scores


if __name__ == "__main__":
    main()
