"""Running one supervised command (an agent, a setup or a teardown) to its end or its limit.

The command runs in its own process group with the attempt's marker in its environment;
its output goes to a log file (never through a pipe we must drain); the timeout counts with
the monotonic clock; at the end, or at a limit, every process of the attempt is stopped.
"""

from __future__ import annotations

import os
import select
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator.base import durable
from orchestrator.base.commands import start_detached
from orchestrator.process import tree

LIMIT_CHECK_SECONDS = 2.0


@dataclass(frozen=True)
class Outcome:
    exit_code: int | None  # None: it never started
    timed_out: bool = False
    limit: str | None = None  # why it was killed for a resource limit
    error: str | None = None  # why it could not start


def run_supervised(argv: list[str], *, cwd: Path, env: dict, log_path: Path, timeout: float, token: str,
                   grace: float, record_path: Path | None = None, memory_limit_mb: int | None = None,
                   cpu_limit_seconds: float | None = None) -> Outcome:
    with open(log_path, "ab") as out:
        try:
            child = start_detached(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        except (FileNotFoundError, PermissionError, NotADirectoryError, OSError) as exc:
            out.write(f"orchestrator: could not start {argv[0]!r}: {exc}\n".encode())
            return Outcome(None, error=str(exc))
    ident = tree.identity_of(child.pid)
    started = ident.started if ident else time.time()
    if record_path is not None:
        durable.write_json_atomic(record_path, {"pid": child.pid, "pgid": child.pid, "started": started})
    deadline = time.monotonic() + timeout
    next_check = time.monotonic() + LIMIT_CHECK_SECONDS
    limited = memory_limit_mb is not None or cpu_limit_seconds is not None
    outcome: Outcome | None = None
    exited = ExitWaiter(child)
    try:
        while outcome is None:
            now = time.monotonic()
            if exited.wait(max(0.0, min(1.0, deadline - now, next_check - now if limited else 1.0))):
                outcome = Outcome(child.returncode)
            elif time.monotonic() >= deadline:
                tree.terminate(token, child.pid, started, grace)
                outcome = Outcome(child.wait(), timed_out=True)
            elif limited and time.monotonic() >= next_check:
                next_check = time.monotonic() + LIMIT_CHECK_SECONDS
                why = over_limit(child.pid, memory_limit_mb, cpu_limit_seconds)
                if why:
                    tree.terminate(token, child.pid, started, grace)
                    outcome = Outcome(child.wait(), limit=why)
    finally:
        exited.close()
    # Whatever it left behind (a dev server, a stuck grandchild) ends with it.
    tree.terminate(token, child.pid, started, min(grace, 2.0))
    return outcome


class ExitWaiter:
    """wait(seconds) -> True as soon as the child has exited, False when the time ran out.

    Popen.wait(timeout) polls with sleeps of up to 50 ms, which every attempt would pay once;
    a pidfd (Linux 5.3+) wakes at the exit itself. Elsewhere, Popen.wait it is.
    """

    def __init__(self, child: subprocess.Popen):
        self.child = child
        self.poller = None
        try:
            self.pidfd = os.pidfd_open(child.pid)
        except (AttributeError, OSError):
            return
        self.poller = select.poll()
        self.poller.register(self.pidfd, select.POLLIN)

    def wait(self, seconds: float) -> bool:
        if self.poller is None:
            try:
                self.child.wait(timeout=seconds)
                return True
            except subprocess.TimeoutExpired:
                return False
        if not self.poller.poll(seconds * 1000):
            return False
        self.child.wait()
        return True

    def close(self) -> None:
        if self.poller is not None:
            os.close(self.pidfd)
            self.poller = None


def over_limit(pid: int, memory_limit_mb: int | None, cpu_limit_seconds: float | None) -> str | None:
    """Why the process tree under pid is over a limit, or None."""
    used = tree.usage(pid)
    if used is None:
        return None
    rss, cpu = used.rss_bytes, used.cpu_seconds
    if memory_limit_mb is not None and rss > memory_limit_mb * 1024 * 1024:
        return f"memory limit: the agent's processes used {rss // (1024 * 1024)} MB (memory_limit_mb {memory_limit_mb})"
    if cpu_limit_seconds is not None and cpu > cpu_limit_seconds:
        return f"CPU limit: the agent's processes used {cpu:.0f} s of CPU (cpu_limit_seconds {cpu_limit_seconds:g})"
    return None
