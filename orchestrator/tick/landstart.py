"""Starting the merge queue's lander from the tick: a detached `python -m orchestrator land --quiet`.

The lander runs checks for minutes; the tick must stay milliseconds, so it only starts one (the
lander's own lock keeps it to one, also against a `land` in a terminal) when landing/ has tasks
and no lander runs, and not while the queue is paused (PAUSE: the lander itself would stop at
once). A lander that stopped without landing everything (it waits for the person's
checkout of the base, say) is started again only when landing/ or the base changed, or after
tick_seconds: a drain does not spin on it.
"""

from __future__ import annotations

import subprocess
import sys
import time

from orchestrator.base import durable, log
from orchestrator.base.commands import start_detached
from orchestrator.base.locks import FileLock
from orchestrator.formats.config import Config
from orchestrator.formats.layout import StateDir
from orchestrator.git.repo import Repo
from orchestrator.store.backend import QueueBackend
from orchestrator.tick.prestart import runner_environment

_log = log.get("orchestrator.scheduler")


class LanderStarter:
    def __init__(self, config: Config, queue: QueueBackend):
        self.config = config
        self.queue = queue
        self.process: subprocess.Popen | None = None
        self._last: tuple | None = None  # what landing/ and the base looked like when the last lander started
        self._last_at = 0.0

    def maybe_start(self) -> subprocess.Popen | None:
        """Start a lander if one is due; returns the new process (the caller reaps it)."""
        if self.process is not None and self.process.poll() is None:
            return None
        state = StateDir(self.config.state_dir)
        if not self.queue.count("landing") or state.pause_file.exists():
            return None
        seen = (self.queue.generation("landing"), Repo(self.config.repo).branch_commit(
            self.config.base_branch))
        if seen == self._last and time.monotonic() - self._last_at < self.config.tick_seconds:
            return None
        durable.make_dirs(state.landing)
        with FileLock(state.land_lock).attempt() as free:
            if not free:
                return None  # a lander runs already (another daemon's tick, or 'land' in a terminal)
        argv = [sys.executable, "-m", "orchestrator", "--config", str(self.config.path), "land", "--quiet"]
        with open(state.landing / "lander.log", "ab") as out:
            self.process = start_detached(argv, cwd=self.config.path.parent, env=runner_environment(),
                                          stdout=out, stderr=subprocess.STDOUT)
        self._last, self._last_at = seen, time.monotonic()
        _log.info("lander_started", pid=self.process.pid)
        return self.process
