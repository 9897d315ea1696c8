"""The error types of nnf: every failure a user can cause is one of these, worded for them."""

from __future__ import annotations


class NNFError(Exception):
    """Base class of every error nnf raises on purpose."""


class ShapeError(NNFError, ValueError):
    """An array or a declared shape does not fit the layer that receives it."""


class ConfigError(NNFError, ValueError):
    """A layer, model, loss or optimizer was given options it cannot use."""


class NotBuiltError(NNFError, RuntimeError):
    """A layer or model was used before its parameters exist (call ``build`` first)."""


class UnknownLayerError(NNFError, KeyError):
    """No installed plugin provides the requested layer key or name."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


class PluginLoadError(NNFError, ImportError):
    """A plugin is installed but cannot be used (import failure, wrong type, key collision)."""


class RegistrationError(NNFError, ValueError):
    """A layer class cannot be registered under the requested key."""


class ModelFormatError(NNFError, ValueError):
    """A model file or byte string is not a valid, loadable nnf model."""


class DataError(NNFError, ValueError):
    """A dataset cannot be found, read, downloaded or matched to a model."""


class ExportError(NNFError, ValueError):
    """A model cannot be exported to the requested format (e.g. a layer has no converter)."""


class TrainingError(NNFError, RuntimeError):
    """Training cannot go on (for example the loss became NaN or infinite)."""


class ConcurrentUseError(NNFError, RuntimeError):
    """A model was trained while another thread used it (or the reverse)."""


class RankFailedError(NNFError, RuntimeError):
    """Another rank of an MPI job failed: this rank stopped with it (``nnf.parallel.mpi_job``).
    ``rank`` is the rank that failed (None: unknown); ``cause_types`` the names of its
    error's class and base classes (``("KeyboardInterrupt", "BaseException", "object")``
    for Ctrl-C)."""

    def __init__(
        self, message: str, rank: int | None = None, cause_types: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.rank = rank
        self.cause_types = tuple(cause_types)

    @property
    def interrupted(self) -> bool:
        """Whether the other rank was interrupted (Ctrl-C)."""
        return "KeyboardInterrupt" in self.cause_types
