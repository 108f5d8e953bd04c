"""Eight `--once` processes at the same moment over 96 tasks: nothing claimed twice, nothing skipped."""

import subprocess
import sys
from collections import Counter

import pytest


@pytest.mark.timeout(300)
def test_eight_concurrent_once_processes(env):
    env.write_config([env.agent("impl-1", "commit.py", max_concurrent=96)], max_running=96)
    for n in range(96):
        env.enqueue(f"t{n:03d}")
    procs = [subprocess.Popen([sys.executable, "-m", "orchestrator", "--config", str(env.config_path), "--once"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=env.root) for _ in range(8)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read().decode()
    # An agent had room for every task: after the ticks, none may still wait in incoming/.
    assert env.queue.count("incoming") == 0
    env.wait_until(lambda: env.queue.count("claimed") == 0, timeout=240, what="all 96 attempts to finish")
    claims = Counter(e["task"] for e in env.events() if e["event"] == "claimed")
    starts = Counter(e["task"] for e in env.events() if e["event"] == "started")
    assert len(claims) == 96 and set(claims.values()) == {1}
    assert len(starts) == 96 and set(starts.values()) == {1}
    assert env.queue.count("provisional") == 96
    for n in (0, 47, 95):
        assert env.git("rev-list", "--count", f"main..agent/t{n:03d}").strip() == "1"
