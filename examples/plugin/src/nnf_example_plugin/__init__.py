"""Example nnf plugin: ``BatchNorm`` (parameters and running statistics) and ``Swish``.

nnf finds these classes through the entry points in pyproject.toml; importing this package
is only needed to use the classes directly.
"""

from .batchnorm import BatchNorm
from .swish import Swish

__all__ = ["BatchNorm", "Swish"]
__version__ = "0.1.0"
