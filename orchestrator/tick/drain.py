"""--drain: run ticks until nothing is running and nothing runnable waits."""

from __future__ import annotations

import time

from orchestrator.tick.scheduler import Scheduler


def drain(scheduler: Scheduler, timeout: float | None, poll: float = 0.2) -> int:
    """0 once nothing runs and nothing runnable waits; 1 when timeout seconds passed first."""
    deadline = time.monotonic() + timeout if timeout else None
    while True:
        report = scheduler.tick()
        if not report.skipped and not scheduler.has_work(report):
            return 0
        if deadline and time.monotonic() > deadline:
            return 1
        time.sleep(poll)
