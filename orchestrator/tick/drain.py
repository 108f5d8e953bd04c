"""--drain: run ticks until nothing is running and nothing runnable waits."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from orchestrator.base import log
from orchestrator.base.errors import QueueUnavailableError
from orchestrator.process.wake import WakeListener
from orchestrator.tick.scheduler import Scheduler

DRAINED, TIMED_OUT, ONLY_LATER = 0, 1, 4  # the exit codes of --drain (docs/CLI.md)
_log = log.get("orchestrator.drain")


@dataclass(frozen=True)
class Drained:
    code: int
    waiting_task: str | None = None  # ONLY_LATER: the task whose retry comes first,
    retry_at: float | None = None  # and when (epoch seconds)


def drain(scheduler: Scheduler, timeout: float | None, poll: float = 0.2) -> int:
    """DRAINED once nothing runs and nothing runnable waits; TIMED_OUT when timeout seconds passed
    first; ONLY_LATER at once when nothing runs and every task left waits for a retry due after the
    timeout (waiting would only end in TIMED_OUT)."""
    return drain_report(scheduler, timeout, poll).code


def drain_report(scheduler: Scheduler, timeout: float | None, poll: float = 0.2) -> Drained:
    """As drain(), with what is left when it stops. Between ticks it waits for a runner's wake-up
    (the datagram a runner sends when it settles, as to a daemon), or at most `poll` seconds."""
    deadline = time.monotonic() + timeout if timeout else None
    woken = threading.Event()
    listener = WakeListener(scheduler.config.state_dir, woken.set)  # no socket (a daemon has it): polling
    try:
        while True:
            woken.clear()
            try:
                report = scheduler.tick()
            except QueueUnavailableError as exc:  # the database for a moment: the next tick connects again
                _log.warning("tick_failed", error=str(exc))
                woken.wait(poll)
                continue
            if not report.skipped and not scheduler.has_work(report):
                return Drained(DRAINED)
            if deadline is not None and not report.skipped:
                later = scheduler.next_retry(report)
                left = deadline - time.monotonic()
                if later is not None and later[0] - report.at.timestamp() > left:
                    return Drained(ONLY_LATER, later[1], later[0])
            if deadline is not None and time.monotonic() > deadline:
                return Drained(TIMED_OUT)
            woken.wait(poll)
    finally:
        listener.close()
