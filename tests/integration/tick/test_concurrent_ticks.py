"""Eight `--once` processes at the same moment over 24 tasks: nothing claimed twice, nothing skipped.

24 tasks (three a process) are enough for the ticks to overlap: with the tick lock and the task
lock both taken out and the claim made a copy, several tasks are claimed two or three times, as
with 96; what 96 added was only runner start-ups (a --once tick starts each runner fresh)."""

import subprocess
import sys
from collections import Counter

import pytest

TASKS = 24


@pytest.mark.timeout(300)
def test_eight_concurrent_once_processes(env):
    env.write_config([env.agent("impl-1", "commit.py", max_concurrent=TASKS)], max_running=TASKS)
    for n in range(TASKS):
        env.enqueue(f"t{n:03d}")
    procs = [subprocess.Popen([sys.executable, "-m", "orchestrator", "--config", str(env.config_path), "--once"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=env.root) for _ in range(8)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read().decode()
    # An agent had room for every task: after the ticks, none may still wait in incoming/.
    assert env.queue.count("incoming") == 0
    env.wait_until(lambda: env.queue.count("claimed") == 0, timeout=240, what=f"all {TASKS} attempts to finish")
    claims = Counter(e["task"] for e in env.events() if e["event"] == "claimed")
    starts = Counter(e["task"] for e in env.events() if e["event"] == "started")
    assert len(claims) == TASKS and set(claims.values()) == {1}
    assert len(starts) == TASKS and set(starts.values()) == {1}
    assert env.queue.count("provisional") == TASKS
    for n in (0, TASKS // 2, TASKS - 1):
        assert env.git("rev-list", "--count", f"main..agent/t{n:03d}").strip() == "1"
