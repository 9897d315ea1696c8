"""``keras.datasets.mnist`` for the tutorial's programs: ``load_data()`` returns the bundled subset.

``from nnf.datasets import mnist`` replaces ``from keras.datasets import mnist``; nothing is
downloaded. For the full 60,000 digits use ``nnf.datasets.load("mnist")``.
"""

from __future__ import annotations

from .bundled import mnist_small as load_data

__all__ = ["load_data"]
