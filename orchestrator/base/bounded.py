"""Reading files that others write (agents, their logs): with a size limit, never blocking.

An agent controls what lies in its attempt directory and worktree: a result file can be a
link to /dev/zero, a sparse file of many gigabytes, or a FIFO that nobody writes. Everything
we read from there goes through these functions, which open without following a final
symlink onto a device, refuse what is not a regular file, and read at most `limit` bytes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class NotARegularFile(OSError):
    """The path is a FIFO, a device, a socket or a directory: nothing we read from an agent."""


def read_limited(path: Path, limit: int) -> bytes:
    """At most `limit` bytes of a regular file (raises FileNotFoundError, NotARegularFile, OSError).

    Opened with O_NONBLOCK so a FIFO cannot hang the open; checked to be a regular file
    after opening (so it cannot be swapped in between); read no further than the limit."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFile(f"{path} is not a regular file")
        chunks, left = [], limit
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def is_oversized(path: Path, limit: int) -> bool:
    """Is the regular file at path larger than limit bytes? (False when it is not there.)"""
    try:
        return os.stat(path).st_size > limit
    except FileNotFoundError:
        return False


def tail_lines(path: Path, max_bytes: int) -> list[str]:
    """The non-empty lines among the last max_bytes of a log file (the first, likely cut, dropped
    when the file is longer). Empty when the file is missing or not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return []
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return []
        start = max(0, info.st_size - max_bytes)
        os.lseek(fd, start, os.SEEK_SET)
        data = os.read(fd, max_bytes)
    finally:
        os.close(fd)
    lines = data.decode(errors="replace").splitlines()
    if start > 0 and lines:
        lines = lines[1:]
    return [line for line in lines if line.strip()]
