"""Starting runners: one detached process per attempt, taken warm from a small stock when there is one.

A cold runner pays for an interpreter start and the package's imports (~150 ms on the
project's machine) between the claim and its agent's start. A long-lived scheduler (the
daemon, --drain) keeps a few runners started ahead of need: each has done its imports and
waits on a pipe for the attempt directory it is to run. Handing one over is a single write
of fewer than PIPE_BUF bytes, so it arrives whole or not at all; a warm runner whose pipe
closes without a line (the scheduler stopped or died) exits, and one left idle for
WARM_IDLE_SECONDS exits too. After the hand-over it is an ordinary runner: detached in its
own session, output into the attempt's runner.log, recorded in runner.json, so a
restarted daemon adopts it like any other. A single --once tick starts its runners cold.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orchestrator
from orchestrator import log

_log = log.get("orchestrator.launcher")
WARM_FLAG = "--warm"
WARM_IDLE_SECONDS = 600.0
# The scheduler hands over only runners well inside their idle time, so a hand-over never races
# a warm runner's own decision to exit.
WARM_HAND_OVER_SECONDS = WARM_IDLE_SECONDS / 2


def runner_environment() -> dict[str, str]:
    """The daemon's environment, with this package importable whatever the runner's working directory."""
    env = dict(os.environ)
    package_root = str(Path(orchestrator.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    return env


class Launcher:
    """Starts runners; keeps up to `warm` of them started ahead of need (0: always cold)."""

    def __init__(self, warm: int = 0):
        self.warm = warm
        self._ready: list[tuple[subprocess.Popen, float]] = []  # (process, monotonic start)

    def launch(self, attempt_dir: Path) -> subprocess.Popen:
        """Start the runner of the attempt in attempt_dir (a warm one when one is fresh and alive)."""
        self._retire_old()
        while self._ready:
            child, _ = self._ready.pop(0)
            if child.poll() is not None:
                continue  # crashed while waiting
            try:
                child.stdin.write(f"{attempt_dir}\n".encode())
                child.stdin.close()
            except OSError:  # it died between poll() and the write: it never saw the attempt
                child.wait()
                continue
            return child
        with open(attempt_dir / "runner.log", "ab") as err:
            return subprocess.Popen([sys.executable, "-m", "orchestrator.runner", str(attempt_dir)],
                                    stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=runner_environment(),
                                    start_new_session=True, close_fds=True, cwd=str(attempt_dir))

    def refill(self, cwd: Path) -> None:
        """Start warm runners until `warm` are waiting (cheap: each loads itself on another core)."""
        self._retire_old()
        self._ready = [(c, t) for c, t in self._ready if c.poll() is None]
        if len(self._ready) > self.warm:
            self._send_away([c for c, _ in self._ready[self.warm:]])
            del self._ready[self.warm:]
        while len(self._ready) < self.warm:
            child = subprocess.Popen(
                [sys.executable, "-m", "orchestrator.runner", WARM_FLAG], stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=runner_environment(),
                start_new_session=True, close_fds=True, cwd=str(cwd))
            self._ready.append((child, time.monotonic()))

    def _retire_old(self) -> None:
        now = time.monotonic()
        old = [c for c, t in self._ready if now - t > WARM_HAND_OVER_SECONDS]
        if old:
            self._ready = [(c, t) for c, t in self._ready if now - t <= WARM_HAND_OVER_SECONDS]
            self._send_away(old)

    def close(self) -> None:
        """Send the waiting runners away (they read end of file and exit) and reap them."""
        ready, self._ready = [c for c, _ in self._ready], []
        self._send_away(ready)

    @staticmethod
    def _send_away(ready: list[subprocess.Popen]) -> None:
        for child in ready:
            try:
                child.stdin.close()
            except OSError as exc:
                _log.debug("warm_runner_close", pid=child.pid, error=str(exc))
        for child in ready:
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    @property
    def waiting(self) -> int:
        return sum(1 for c, _ in self._ready if c.poll() is None)


def await_attempt(stdin_fd: int = 0, idle: float = WARM_IDLE_SECONDS) -> Path | None:
    """In a warm runner: wait for the attempt directory; None when told to go (end of file, idle)."""
    import select
    ready, _, _ = select.select([stdin_fd], [], [], idle)
    if not ready:
        return None
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(stdin_fd, 4096)
        if not chunk:
            return None  # closed without a whole line: nothing was handed over
        line += chunk
    return Path(line[:-1].decode())


def become_runner_of(attempt_dir: Path) -> None:
    """Take on what a cold runner is started with: output into runner.log, stdin empty, cwd the attempt."""
    fd = os.open(attempt_dir / "runner.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.close(null)
    os.chdir(attempt_dir)
