"""The journal's lock: one executor per journal file (`flock` on ``<journal>.lock``)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path

from planner.errors import InputError


class Lock:
    """An exclusive lock on a journal: `flock` on ``<journal>.lock``, which holds the
    owner's pid and host name for the message a second executor gets. The kernel drops
    the lock when its process dies (even by SIGKILL), so a stale file never blocks."""

    def __init__(self, journal: Path) -> None:
        self.path = Path(f"{journal}.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        except OSError as e:
            raise InputError(
                f"{self.path}: cannot create the journal lock: {e.strerror or e}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise InputError(
                f"{self.path.with_suffix('')}: journal in use by another "
                f"executor ({holder}); wait for it to end or stop it"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None
