"""Plugins that are wrong in every other way: not a Layer, a mismatched key, a reserved key."""

import attrs
import nnf


class NotALayer:
    key = "misc.NotALayer.v1"


@attrs.define(eq=False)
class Mislabelled(nnf.Layer):
    key = "misc.Other.v1"

    def forward(self, x, training=False):
        return x


@attrs.define(eq=False)
class FakeDense(nnf.Layer):
    key = "nnf.Dense.v1"

    def forward(self, x, training=False):
        return x * 0
