"""Errors the tool reports to users: `str(error)` is one line that names the input and the cause.

The CLI maps them to exit codes (ModelLoadError -> 3); the library raises them so that programs
calling it can tell "your file is broken" from a bug.
"""

from __future__ import annotations


class CrossLMMError(Exception):
    """Base class of every error meant for the user rather than for a traceback."""

    hint: str | None = None

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class ModelLoadError(CrossLMMError):
    """The model could not be found, downloaded or loaded."""


class ModelNotFoundError(ModelLoadError):
    """No local directory, bundled model or cached hub repository of that name."""


class OfflineError(ModelLoadError):
    """A download was needed and the Hugging Face Hub cannot be reached."""


class CheckpointError(ModelLoadError):
    """A checkpoint directory is incomplete, corrupt, or holds weights we refuse to load (pickles)."""
