"""The one lock: flock on a file. The kernel releases it when the holder dies, so a kill -9
leaves no stale lock behind.

    with FileLock(path):                  # waits as long as it takes; the body always holds it
    lock = FileLock(path)
    if lock.acquire(timeout=10): ...      # False when someone else held it the whole time
    with FileLock(path).attempt() as got: # one try: got is True or False
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestrator.base.durable import storage_error

POLL_SECONDS = 0.01


class FileLock:
    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self, *, timeout: float | None) -> bool:
        """Take the lock. timeout None waits as long as it takes (and returns True); a number
        waits up to that many seconds and returns False when someone else held it throughout."""
        if self._fd is not None:
            raise RuntimeError(f"{self.path}: this FileLock is held already")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise storage_error(exc, self.path, "create the lock") from exc
        if timeout is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._fd = fd
            return True
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fd = fd
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(POLL_SECONDS)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    @contextmanager
    def attempt(self, timeout: float = 0) -> Iterator[bool]:
        """Try without waiting (or up to timeout seconds); yields whether the lock is held inside the block."""
        got = self.acquire(timeout=timeout)
        try:
            yield got
        finally:
            self.release()

    def __enter__(self) -> FileLock:
        self.acquire(timeout=None)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
