"""Atomic file writes: write a temporary file beside the target, flush it to disk, then rename.

A crash or a full disk during the write leaves the previous file untouched: readers see the old
file or the new one, never half of either.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, IO

from cnnlab.errors import CnnlabError


# mkstemp creates files readable by their owner only; a report or checkpoint should get the
# permissions any other new file gets. The umask can only be read by setting it, so it is read
# once, at import (before any threads), and put back at once.
_UMASK = os.umask(0)
os.umask(_UMASK)


class WriteError(CnnlabError):
    """A file could not be written; the previous version (if any) is intact."""


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call `write(f)` on a temporary file in the target's folder, then rename it over `path`."""
    path = Path(path)
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as e:
        raise WriteError(f"{path}: could not be written ({e.strerror or e}); "
                         "the previous version, if any, is intact") from None
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write bytes to `path` atomically."""
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write text (UTF-8) to `path` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))
