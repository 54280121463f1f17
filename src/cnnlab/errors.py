"""Errors caused by the user's input.

Every error a user can fix derives from `CnnlabError`: the CLI prints its message (which names
the input, the value and what was expected) and exits with code 2, without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class CnnlabError(Exception):
    """Bad input or a missing resource that the user can fix; the CLI exits with code 2."""


class ConfigError(CnnlabError, ValueError):
    """A setting has a wrong name, type or value."""


class DataError(CnnlabError):
    """A data set is missing, empty or inconsistent."""


class ImageLoadError(DataError):
    """One file could not be read as an image."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class ModelError(CnnlabError):
    """A model name, spec or input size does not work."""


class CheckpointError(CnnlabError):
    """A checkpoint or run folder is missing, unsafe or does not match."""
