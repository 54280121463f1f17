"""The run lock: one trainer per run folder.

Two trainers writing one folder (a second `--resume` of a run still training, or two runs
started with the same `--name`) interleave checkpoints and history rows. The trainer holds an
exclusive `flock` on runs/NAME/.train.lock while it writes; the kernel drops the lock when the
process dies, so a killed run never leaves a stale lock behind, and the next resume just works.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from cnnlab.errors import CheckpointError
from cnnlab.run import files


class RunLock:
    """`with RunLock(folder):` holds the folder's lock, or raises CheckpointError at once."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / files.LOCK
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as e:  # a link planted in its place (ELOOP), a read-only folder, ...
            raise CheckpointError(f"{self.path}: cannot take the run lock ({e.strerror or e}); remove it if it "
                                  "is a link, and check that the run folder is writable") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise CheckpointError(f"{self.path.parent}: another trainer (pid {holder}) is writing this run folder; "
                                  "wait for it to finish (or stop it) before resuming, or train under another "
                                  "--name") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.path)  # while still held: a waiting trainer then locks a fresh file
        except OSError:
            pass
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
