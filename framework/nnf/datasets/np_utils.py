"""``keras.utils.np_utils`` for the tutorial's programs: ``to_categorical`` one-hot encodes."""

from __future__ import annotations

from .transforms import to_categorical

__all__ = ["to_categorical"]
