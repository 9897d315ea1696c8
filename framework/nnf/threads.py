"""Moved to ``nnf.parallel.threads``; this name stays for layers written against it
(``from nnf import threads``: ``map_groups``, ``available``). It is the same module object."""

import sys

from .parallel import threads

sys.modules[__name__] = threads
