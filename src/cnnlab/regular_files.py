"""Reading files that a user (or an attacker) put in place: regular files only, reads capped.

A FIFO named `photo.png` makes a plain `open().read()` wait forever for a writer; a link
`zero.png -> /dev/zero` reads until memory runs out. Here a file is opened without blocking
(O_NONBLOCK, so opening a FIFO returns at once), checked with fstat on the open descriptor (no
race between the check and the read), and read up to a cap.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cnnlab.errors import CnnlabError


class FileRefused(CnnlabError):
    """A file that is not a regular file, is too large, or cannot be read."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a regular file"


def read_regular_file(path: str | Path, max_bytes: int, what: str = "file", prefix: bool = False) -> bytes:
    """The bytes of `path` (a link is followed, but only to a regular file).

    Raises `FileRefused` for a FIFO, device, socket or folder, and for a file over `max_bytes`
    unless `prefix` is True, in which case only its first `max_bytes` are returned.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise FileRefused(path, f"cannot read {what} ({e.strerror or e})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused(path, f"{_kind(st.st_mode)}, not a regular file; only regular files are read "
                                    f"(remove it, or replace it with the {what} itself)")
        if st.st_size > max_bytes and not prefix:
            raise FileRefused(path, f"{st.st_size:,} bytes, over the limit of {max_bytes:,} for a {what}")
        chunks = []
        left = min(st.st_size, max_bytes) if prefix else max_bytes + 1
        while left > 0:  # a file that grows while read is still capped
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    except OSError as e:
        raise FileRefused(path, f"cannot read {what} ({e.strerror or e})") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes and not prefix:
        raise FileRefused(path, f"over the limit of {max_bytes:,} bytes for a {what}")
    return data


def is_regular_file(path: str | Path) -> bool:
    """True when `path` is (or links to) a regular file; never opens it."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False
