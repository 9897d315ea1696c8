"""One of two distributions that claim the same key."""

import attrs
import nnf


@attrs.define(eq=False)
class Twin(nnf.Layer):
    key = "twin.Twin.v1"

    def forward(self, x, training=False):
        return x
