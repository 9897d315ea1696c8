"""Moved to ``nnf.parallel.threads``; this name stays for layers written against it
(``from nnf import threads``: ``map_groups``, ``available``). It is the same module object."""

import sys
from typing import TYPE_CHECKING

from .parallel import threads

if TYPE_CHECKING:  # what a type checker sees of this alias: the module's own names
    from .parallel.threads import *  # noqa: F403

sys.modules[__name__] = threads
