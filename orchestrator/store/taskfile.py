"""Reading one task file safely: no symbolic link followed, no FIFO waited on, nothing past the limit."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from orchestrator.base.errors import TaskFileError
from orchestrator.formats import task as taskfmt
from orchestrator.formats.task import Task

SUFFIX = ".md"
MAX_TASK_BYTES = 1_000_000  # a task is a prompt, not a data set


def read_task_file(path: Path, *, trusted: bool = True, name: str | None = None) -> Task:
    """Read and parse one task file; its id is its file name (or `name`, the name it is to have).
    Untrusted files may not set runtime fields."""
    raw = read_task_bytes(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise TaskFileError(f"{path}:{line}: not valid UTF-8 (byte {exc.start}); save the file as UTF-8") from None
    name = name or path.name
    if not name.endswith(SUFFIX):
        raise TaskFileError(f"{path}: a task file's name ends in {SUFFIX} (rename it)")
    return taskfmt.parse(text, file_id=name[: -len(SUFFIX)], source=str(path), trusted=trusted)


def read_task_bytes(path: Path) -> bytes:
    """Read a task file without following a symbolic link and without reading past the limit."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise TaskFileError(f"{path}: not a regular file")
        if info.st_size > MAX_TASK_BYTES:
            raise TaskFileError(f"{path}: {info.st_size} bytes; a task file may be at most {MAX_TASK_BYTES} bytes "
                                "(put large material in the repository and refer to it)")
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
