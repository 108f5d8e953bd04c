"""Named crash points for crash-safety tests and the fault-injection benchmark.

    ORCHESTRATOR_CRASH_AT=runner_after_result python -m orchestrator --once

makes whichever process reaches that point kill itself with SIGKILL, exactly as an
out-of-memory kill or a power cut would. Unset (always, in normal use) a crash point
costs one dictionary lookup. The variable never reaches agents (agentenv drops
ORCHESTRATOR_* variables).

    ORCHESTRATOR_HOLD_AT=land_before_move:/tmp/held python -m orchestrator land

makes the process stop at that point instead: it writes its pid to the file and waits until the
file is removed (at most HOLD_SECONDS), so a race test can act exactly there (a cancel while
the merge queue moves the base, say) and then let it go on.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

CRASH_VAR = "ORCHESTRATOR_CRASH_AT"
HOLD_VAR = "ORCHESTRATOR_HOLD_AT"
HOLD_SECONDS = 300.0
POINTS = (
    "tick_after_claim",  # the claim rename is done, the runner is not started
    "enqueue_before_publish",  # the temporary file is written, not yet linked (a task; agents.yaml by init)
    "runner_before_agent",  # owner.json written, the agent not started
    "runner_after_agent",  # the agent exited, no result record yet
    "runner_after_result",  # result record written, the task not moved
    "settle_after_rewrite",  # the task file rewritten in claimed/, not yet renamed
    "stop_before_kill",  # cancel/stop wrote the attempt's result, the runner not yet killed
    "land_before_move",  # the merge queue wrote progress.json, the base not yet moved
    "land_after_move",  # the base moved, the landed tasks still in landing/
    "land_after_done",  # the tasks in done/, progress.json (and the push) not yet done
)


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_VAR) == name:
        os.kill(os.getpid(), signal.SIGKILL)
    hold = os.environ.get(HOLD_VAR)
    if hold is not None and hold.partition(":")[0] == name:
        _hold(Path(hold.partition(":")[2]))


def _hold(marker: Path) -> None:
    marker.write_text(str(os.getpid()))
    deadline = time.monotonic() + HOLD_SECONDS
    while marker.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
