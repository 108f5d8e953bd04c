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
# Between ticks: with the wake socket bound, every settle wakes the drain at once and the poll is
# only the safety net (a runner that died without a word, a retry coming due), so it can be slow:
# each idle tick costs a few ms of CPU that the agents on a small machine would rather have.
POLL_WITH_SOCKET_SECONDS = 1.0
POLL_WITHOUT_SOCKET_SECONDS = 0.2
_log = log.get("orchestrator.drain")


@dataclass(frozen=True)
class Drained:
    code: int
    waiting_task: str | None = None  # ONLY_LATER: the task whose retry comes first,
    retry_at: float | None = None  # and when (epoch seconds)


def drain(scheduler: Scheduler, timeout: float | None, poll: float | None = None) -> int:
    """DRAINED once nothing runs and nothing runnable waits; TIMED_OUT when timeout seconds passed
    first; ONLY_LATER at once when nothing runs and every task left waits for a retry due after the
    timeout (waiting would only end in TIMED_OUT)."""
    return drain_report(scheduler, timeout, poll).code


def drain_report(scheduler: Scheduler, timeout: float | None, poll: float | None = None) -> Drained:
    """As drain(), with what is left when it stops. Between ticks it waits for a runner's wake-up
    (the datagram a runner sends when it settles, as to a daemon), or at most `poll` seconds
    (default: POLL_WITH_SOCKET_SECONDS, or POLL_WITHOUT_SOCKET_SECONDS when it has no socket)."""
    deadline = time.monotonic() + timeout if timeout else None
    woken = threading.Event()
    listener = WakeListener(scheduler.config.state_dir, woken.set)  # no socket (a daemon has it): polling
    if poll is None:
        poll = POLL_WITH_SOCKET_SECONDS if listener.sock is not None else POLL_WITHOUT_SOCKET_SECONDS
    try:
        while True:
            woken.clear()
            try:
                report = scheduler.tick()
            except QueueUnavailableError as exc:  # the database for a moment: the next tick connects again
                _log.warning("tick_failed", error=str(exc))
                woken.wait(poll)
                continue
            # Asked once, before has_work: a runner that exits between two questions would otherwise
            # look busy to one and gone to the other, and the drain would sleep a whole poll.
            ending = not report.skipped and scheduler.only_runners_ending(report)
            if not ending and not report.skipped and not scheduler.has_work(report):
                return Drained(DRAINED)
            if deadline is not None and not report.skipped and not ending:
                later = scheduler.next_retry(report)
                left = deadline - time.monotonic()
                if later is not None and later[0] - report.at.timestamp() > left:
                    return Drained(ONLY_LATER, later[1], later[0])
            if deadline is not None and time.monotonic() > deadline:
                return Drained(TIMED_OUT)
            if ending:  # a runner wakes us when it settles, not when it exits: its exit is waited for
                scheduler.launcher.wait_for_exits(poll)
            else:
                woken.wait(poll)
    finally:
        listener.close()
