"""The daemon's loop, in-process: one iteration is a function of `now`; the interval keeps to the
monotonic clock whatever the wall clock does."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from orchestrator.tick.daemon import Daemon
from orchestrator.tick.launcher import RecordingLauncher
from orchestrator.tick.scheduler import Scheduler

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


class CountingDaemon(Daemon):
    """Remembers the time each iteration was stamped with."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stamps: list[datetime] = []

    def iteration(self, now):
        self.stamps.append(now)
        return super().iteration(now)


def serve_until(daemon: Daemon, condition, timeout: float = 10.0) -> None:
    thread = threading.Thread(target=daemon._serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while not condition():
            assert time.monotonic() < deadline, "timed out waiting for the daemon's iterations"
            time.sleep(0.02)
    finally:
        daemon.request_stop()
        thread.join(5)
    assert not thread.is_alive()


def test_the_interval_keeps_ticking_after_the_wall_clock_steps_back_an_hour(env):
    env.write_config([env.agent("a")], tick_seconds=0.1)
    wall = {"now": T0}
    daemon = CountingDaemon(Scheduler(env.config, launcher=RecordingLauncher()), clock=lambda: wall["now"])

    def stepped_back_then_four_more() -> bool:
        if len(daemon.stamps) >= 2 and wall["now"] == T0:
            wall["now"] = T0 - timedelta(hours=1)  # the step back, while the loop runs
            del daemon.stamps[:]
        return wall["now"] != T0 and len(daemon.stamps) >= 4

    serve_until(daemon, stepped_back_then_four_more)
    assert daemon.stamps[-1] == T0 - timedelta(hours=1), "ticks went on, stamped with the stepped clock"


def test_one_iteration_is_a_tick_at_the_time_given(env):
    env.write_config([env.agent("a")])
    env.enqueue("t1")
    daemon = Daemon(Scheduler(env.config, launcher=RecordingLauncher()))
    report = daemon.iteration(T0)
    assert report is not None and report.at == T0 and report.started == [("t1", "a")]
    assert daemon.next_tick > time.monotonic() + 50, "the next interval tick is tick_seconds away"
