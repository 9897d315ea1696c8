"""The conformance kit for layer authors: one call checks a layer against nnf's contract.

    from nnf.testing import check_layer

    def test_gated():
        check_layer(Gated, {"units": 4}, input_shape=(6,))

``check_layer`` raises ``LayerCheckError`` (an ``AssertionError``) listing every check that
failed, and otherwise returns a ``LayerReport`` with the measured figures. The checks are
listed in ``CHECKS``; see ``nnf.testing.checks`` for what each one verifies.
"""

from __future__ import annotations

from .checks import CHECKS
from .gradients import numerical_gradient, relative_error
from .kit import LayerCheckError, LayerReport, check_layer

__all__ = [
    "CHECKS",
    "LayerCheckError",
    "LayerReport",
    "check_layer",
    "numerical_gradient",
    "relative_error",
]
