"""A runner's lease on its claim (PostgreSQL queue): renewed while the attempt runs.

The lease says this machine still works on the task. If the heartbeat cannot reach the database,
the agent goes on (a short outage must not cost an hour of agent work) and the next beat tries a
new connection; if the lease ran out meanwhile and another machine took the task, the heartbeat
learns it (the fence moved on) and stops this attempt's agent, and the queue refuses this
runner's moves (they carry the old fence)."""

from __future__ import annotations

import os
import threading

from orchestrator.base import log
from orchestrator.process import tree
from orchestrator.store.attempts import Spec
from orchestrator.store.backend import QueueBackend

_log = log.get("orchestrator.lease")


class LeaseKeeper:
    def __init__(self, queue: QueueBackend, spec: Spec):
        self.queue, self.spec = queue, spec
        self.every = max(1.0, spec.project.lease_seconds / 3)
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LeaseKeeper:
        if self.spec.fence:  # only database claims carry a fence and a lease
            self._thread = threading.Thread(target=self._beat, name="lease", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.every + 5)

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            held = self.queue.heartbeat(self.spec.task_id, self.spec.fence, pid=os.getpid())
            if held is None:
                _log.warning("lease_not_renewed", task=self.spec.task_id, reason="the database cannot be reached; "
                             "the agent goes on, the next heartbeat tries again")
            elif not held and not self.lost:
                self.lost = True
                _log.error("claim_lost", task=self.spec.task_id, fence=self.spec.fence,
                           reason="the lease ran out and another runner has the task: this attempt's agent is "
                                  "stopped and its result will be refused")
                # Another runner works on the task now: never two live agents for it. Everything below
                # this runner (a subreaper) is the agent's.
                tree.terminate(self.spec.token, None, 0.0, self.spec.kill_grace_seconds, tree_of=os.getpid())
