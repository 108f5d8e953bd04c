"""Waking the daemon early: runners and CLI commands touch a file the daemon watches."""

from __future__ import annotations

import os
from pathlib import Path

WAKE_FILE = "wake"


def wake_path(state_dir: Path) -> Path:
    return state_dir / WAKE_FILE


def poke(state_dir: Path) -> None:
    """Tell a running daemon there is news. Harmless when no daemon runs."""
    path = wake_path(state_dir)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, b".")
        finally:
            os.close(fd)
        if path.stat().st_size > 4096:
            os.truncate(path, 0)
    except OSError:
        pass  # waking is an optimisation; the interval tick is the safety net
