"""Errors caused by the user's input.

Every error a user can fix derives from `CnnlabError`: the CLI prints its message (which names
the input, the value and what was expected) and exits with code 2, without a traceback.
"""

from __future__ import annotations

import difflib
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


class SizeError(ConfigError, ModelError):
    """An image size or input shape is not understood (a bad setting and a bad model input)."""


def did_you_mean(name: str, candidates: list[str], n: int = 3) -> str:
    """' (did you mean: a, b?)' for the closest candidates, or '' when none is close."""
    close = difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)
    return f" (did you mean: {', '.join(close)}?)" if close else ""
