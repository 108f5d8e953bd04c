"""Starting runners: one detached process per attempt, forked from a preloaded server when there is one.

A fresh runner pays for an interpreter start and the package's imports (~100 ms of CPU and
~150 ms of wall time on the project's machine) before it can take its attempt; with many
short attempts on a small machine that is most of the orchestrator's cost. A long-lived
scheduler (the daemon, --drain) therefore keeps one *fork server* (forkserver.py): a process
that has imported the runner and forks a runner for each attempt directory it is sent, in a
millisecond or two. The exchange is one line each way over pipes (the directory, then the new
runner's PID); anything unexpected (the server died, said nothing, said nonsense) and the
server is dropped and the runner started fresh, so a broken server costs only speed. The
server exits when its pipe closes: when the scheduler closes it or dies, even by kill -9.
A forked runner is an ordinary runner: its own session, output into the attempt's
runner.log, recorded in runner.json, adopted by a restarted daemon like any other.
A single --once tick starts its runner fresh.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Protocol

from orchestrator.base import log
from orchestrator.base.commands import start_detached
from orchestrator.process import tree
from orchestrator.tick.prestart import let_go, runner_environment, start_fork_server

_log = log.get("orchestrator.launcher")
REPLY_TIMEOUT_SECONDS = 10.0


class RunnerLauncher(Protocol):
    """What the scheduler needs from whoever starts its runners (the seam tests drive the tick through)."""

    fork: bool

    def launch(self, attempt_dir: Path) -> tree.Identity | None: ...
    def prepare(self) -> None: ...
    def reap(self) -> None: ...
    def alive(self) -> int: ...
    def wait_for_exits(self, seconds: float) -> bool: ...
    def close(self) -> None: ...


class RecordingLauncher:
    """Starts nothing: remembers each attempt directory it was asked to run.

    The tick then sees the attempt as claimed by a runner that never appeared; a test (or a
    dry run) decides what happens next, for instance by writing the attempt's result and
    ticking again. Dispatch, settle and graph rules can so be driven without processes."""

    fork = False

    def __init__(self) -> None:
        self.launched: list[Path] = []

    def launch(self, attempt_dir: Path) -> tree.Identity | None:
        self.launched.append(attempt_dir)
        return None

    def prepare(self) -> None:
        return None

    def reap(self) -> None:
        return None

    def alive(self) -> int:
        return 0

    def wait_for_exits(self, seconds: float) -> bool:
        return True

    def close(self) -> None:
        return None


class Launcher:
    """Starts runners, through a fork server when `fork` is set; remembers them until they exit."""

    def __init__(self, state_dir: Path, fork: bool = False, server: subprocess.Popen | None = None):
        """server: a fork server started ahead (tick/prestart.py): adopted when forking, else let go."""
        self.state_dir = state_dir  # the working directory of a fork server started here
        self.fork = fork
        self._server: subprocess.Popen | None = server if fork else None
        if server is not None and not fork:
            let_go(server)
        self._fresh: list[subprocess.Popen] = []  # runners we started ourselves (ours to reap)
        self._forked: list[tree.Identity] = []  # runners the server forked (the server reaps them)

    def launch(self, attempt_dir: Path) -> tree.Identity | None:
        """Start the runner of the attempt in attempt_dir; return its identity (None if it is gone already)."""
        self._forked = [i for i in self._forked if tree.is_alive(i)]  # bounded by the runners alive
        if self.fork:
            pid = self._fork(attempt_dir)
            if pid is not None:
                ident = tree.identity_of(pid)
                if ident is not None:
                    self._forked.append(ident)
                return ident
        with open(attempt_dir / "runner.log", "ab") as err:
            child = start_detached([sys.executable, "-m", "orchestrator.runner", str(attempt_dir)],
                                   stdout=err, stderr=err, env=runner_environment(), cwd=attempt_dir)
        self._fresh.append(child)
        return tree.identity_of(child.pid)

    def _fork(self, attempt_dir: Path) -> int | None:
        server = self._ensure_server()
        if server is None:
            return None
        assert server.stdin is not None and server.stdout is not None  # started with pipes
        try:
            server.stdin.write(f"{attempt_dir}\n".encode())
            server.stdin.flush()
            reply = _read_line(server.stdout.fileno(), REPLY_TIMEOUT_SECONDS)
            pid = int(reply) if reply is not None else None
        except (OSError, ValueError) as exc:
            _log.warning("fork_server_failed", error=str(exc))
            pid = None
        if pid is None or pid <= 0:
            # It may have forked a runner before failing; that runner takes ownership first and
            # the fresh one we start next exits when it finds the attempt owned.
            _log.warning("fork_server_dropped", pid=server.pid, fallback="a fresh runner")
            self._stop_server()
            return None
        return pid

    def _ensure_server(self) -> subprocess.Popen | None:
        if self._server is not None and self._server.poll() is None:
            return self._server
        self._server = None
        try:
            self._server = start_fork_server(self.state_dir)
        except OSError as exc:
            _log.warning("fork_server_unavailable", error=str(exc))
        return self._server

    def prepare(self) -> None:
        """Start the fork server ahead of the first attempt (it loads on another core meanwhile)."""
        if self.fork:
            self._ensure_server()

    def reap(self) -> None:
        """Collect the exit of fresh runners that have finished (each tick: no zombies pile up)."""
        self._fresh = [c for c in self._fresh if c.poll() is None]

    def alive(self) -> int:
        """How many of the runners started here still run."""
        self.reap()
        self._forked = [i for i in self._forked if tree.is_alive(i)]
        return len(self._fresh) + len(self._forked)

    def wait_for_exits(self, seconds: float) -> bool:
        """Wait until every runner started here has exited, or seconds passed (True: all gone)."""
        idents = [i for i in (tree.identity_of(c.pid) for c in self._fresh) if i is not None] + self._forked
        gone = tree.wait_gone(idents, seconds)
        self.reap()
        return gone

    def close(self) -> None:
        """Let the fork server go (it exits on end of file, not waited for); running runners are not touched."""
        self._stop_server()

    def _stop_server(self) -> None:
        # Not waited for: it exits on end of file while this process goes on (or ends: a drain's
        # last step need not wait out the server's interpreter shutdown).
        server, self._server = self._server, None
        if server is not None:
            let_go(server)


def _read_line(fd: int, timeout: float) -> bytes | None:
    """One line from fd within timeout; None at end of file or when the time runs out."""
    line = b""
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return None
        chunk = os.read(fd, 64)
        if not chunk:
            return None
        line += chunk
    return line[:-1]


def become_runner_of(attempt_dir: Path) -> None:
    """In a forked runner: take on what a fresh one is started with (output into runner.log, stdin
    empty, the attempt as working directory, a session of its own)."""
    os.setsid()
    fd = os.open(attempt_dir / "runner.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.close(null)
    os.chdir(attempt_dir)
