"""One daemon per state directory: its lock, its PID file, and stopping it.

The lock (flock, held for the daemon's life) decides whether a daemon runs; the PID file only
says which process it is. A PID file left behind by kill -9 is therefore no obstacle.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from orchestrator.base.errors import OrchestratorError
from orchestrator.base.locks import FileLock
from orchestrator.formats.layout import StateDir


class AlreadyRunning(OrchestratorError):
    exit_code = 3


def daemon_lock_path(state_dir: Path) -> Path:
    return StateDir(state_dir).daemon_lock


def daemon_pid_path(state_dir: Path) -> Path:
    return StateDir(state_dir).daemon_pid


def running_daemon(state_dir: Path) -> int | None:
    """The PID of the daemon running for state_dir, or None. The lock, not the PID file, decides:
    a PID file left by kill -9 is no obstacle."""
    lock = FileLock(daemon_lock_path(state_dir))
    if lock.acquire(timeout=0):
        lock.release()
        return None
    try:
        return int(daemon_pid_path(state_dir).read_text().strip())
    except (FileNotFoundError, ValueError):
        return -1  # running, PID file not written yet


def stop_daemon(state_dir: Path, timeout: float = 30.0) -> int | None:
    """Ask the daemon to stop (SIGTERM) and wait until it has; return its PID, or None if none ran."""
    pid = running_daemon(state_dir)
    if pid is None:
        return None
    if pid > 0:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_daemon(state_dir) is None:
            return pid
        time.sleep(0.05)
    raise OrchestratorError(f"the daemon (pid {pid}) did not stop within {timeout:g} s")
