"""One test per crash point: a real process is killed with SIGKILL there, then the next tick recovers.

Each test ends with every task in exactly one state, none lost, and no agent process left over.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from orchestrator.process import tree
from orchestrator.store.attempts import Runs
from orchestrator.store.records import STATES
from orchestrator.tick.scheduler import Scheduler
from tests.support import processes_with


@pytest.fixture
def env(backend_env):
    """Every test here runs on both queue backends: the directories and PostgreSQL (issue 18)."""
    return backend_env


# Attempt 1 starts a grandchild in its group and one that escapes into its own session, then
# hangs; later attempts commit. Every process of attempt 1 carries the TAG in its command line.
TAG = "crash-test-sleeper"
FAMILY = textwrap.dedent(f"""
    import os, pathlib, subprocess, sys, time
    if os.environ["ORCH_ATTEMPT"] == "1":
        sleeper = "import time, sys; time.sleep(600)  # {TAG}"
        subprocess.Popen([sys.executable, "-c", sleeper])
        subprocess.Popen([sys.executable, "-c", sleeper], start_new_session=True)
        print("hanging", flush=True)
        subprocess.run([sys.executable, "-c", sleeper])
    pathlib.Path("done.txt").write_text("attempt " + os.environ["ORCH_ATTEMPT"])
""")


def once(env, crash_at: str | None = None) -> subprocess.CompletedProcess:
    extra = {"ORCHESTRATOR_CRASH_AT": crash_at} if crash_at else {}
    return subprocess.run([sys.executable, "-m", "orchestrator", "--config", str(env.config_path), "--once"],
                          capture_output=True, text=True, timeout=60, env={**os.environ, **extra})


def assert_consistent(env, ids):
    for task_id in ids:
        if env.queue.kind == "file":
            places = [s for s in STATES if env.queue.path(s, task_id).exists()]
            assert len(places) == 1, f"{task_id} is in {places}"
        else:  # one row: one state by construction; it must still be there
            assert env.queue.locate(task_id) is not None, f"{task_id} is lost"
    assert processes_with(TAG) == [], "agent processes were left running"
    if env.queue.kind == "file":
        assert not [p for s in STATES for p in env.queue.dir(s).iterdir() if p.name.startswith(".tmp-")]


def runner_gone(env, task_id, number):
    attempt = Runs(env.config.state_dir).get(task_id, number)
    owner = attempt.owner() if attempt else None
    return owner is not None and not tree.is_alive(tree.Identity.from_record(owner))


def outcomes(env, task_id):
    return [a.result().outcome if a.result() else None for a in Runs(env.config.state_dir).attempts(task_id)]


@pytest.fixture
def family(env, agents_dir):
    (agents_dir / "family.py").write_text(FAMILY)
    return env.agent("impl-1", "family.py")


def test_tick_killed_after_the_claim_before_the_runner(env):
    env.write_config([env.agent("impl-1")])
    env.enqueue("t1")
    died = once(env, "tick_after_claim")
    assert died.returncode == -signal.SIGKILL
    assert env.state_of("t1") == "claimed"
    attempt = Runs(env.config.state_dir).latest("t1")
    assert attempt.owner() is None and attempt.launch_record() is None
    # The claiming process is dead and no runner was launched: the next tick takes it back at once,
    # without counting an attempt, and runs it again.
    env.drain()
    assert env.state_of("t1") == "provisional"
    assert outcomes(env, "t1") == ["abandoned", "success"] and env.read("t1").attempts == 0
    # A runner that turns up late for the fenced-off attempt finds it owned and does nothing.
    late = subprocess.run([sys.executable, "-m", "orchestrator.runner", str(attempt.dir)], timeout=30)
    assert late.returncode == 0 and not attempt.log_path.exists()
    assert_consistent(env, ["t1"])


def test_runner_killed_before_the_agent_starts(env):
    env.write_config([env.agent("impl-1")])
    env.enqueue("t1")
    assert once(env, "runner_before_agent").returncode == 0
    env.wait_until(lambda: runner_gone(env, "t1", 1), what="the runner to die")
    env.drain()
    assert env.state_of("t1") == "provisional"
    assert outcomes(env, "t1") == ["runner_died", "success"] and env.read("t1").attempts == 1
    assert_consistent(env, ["t1"])


def test_runner_killed_while_the_agent_runs_leaves_no_process_behind(env, family):
    env.write_config([family])
    env.enqueue("t1")
    assert once(env).returncode == 0
    attempt = Runs(env.config.state_dir).get("t1", 1)
    env.wait_until(lambda: len(processes_with(TAG)) >= 3, what="the agent's family to start")
    os.kill(attempt.owner()["pid"], signal.SIGKILL)
    env.wait_until(lambda: runner_gone(env, "t1", 1), what="the runner to die")
    assert len(processes_with(TAG)) >= 3  # orphans, including one that left the process group
    env.drain()
    assert env.state_of("t1") == "provisional"
    assert outcomes(env, "t1") == ["runner_died", "success"]
    assert "killed" in Runs(env.config.state_dir).get("t1", 1).result().reason
    assert_consistent(env, ["t1"])


def test_runner_killed_after_the_agent_before_the_result(env):
    env.write_config([env.agent("impl-1")])
    env.enqueue("t1")
    assert once(env, "runner_after_agent").returncode == 0
    env.wait_until(lambda: runner_gone(env, "t1", 1), what="the runner to die")
    assert Runs(env.config.state_dir).get("t1", 1).result() is None
    env.drain()
    # At-least-once: the attempt is run again; its earlier commit is still on the branch.
    assert env.state_of("t1") == "provisional"
    assert outcomes(env, "t1") == ["runner_died", "success"]
    files = env.git("ls-tree", "--name-only", "agent/t1").split()
    assert "t1-1.txt" in files and "t1-2.txt" in files
    assert_consistent(env, ["t1"])


def test_runner_killed_after_the_result_before_the_move_rolls_forward(env):
    env.write_config([env.agent("impl-1")])
    env.enqueue("t1")
    assert once(env, "runner_after_result").returncode == 0
    env.wait_until(lambda: runner_gone(env, "t1", 1), what="the runner to die")
    assert env.state_of("t1") == "claimed"
    env.drain()
    assert env.state_of("t1") == "provisional"
    assert outcomes(env, "t1") == ["success"]  # rolled forward, not run again
    assert [e["actor"] for e in env.events("t1") if e["event"] == "succeeded"] == ["reconciler"]
    assert_consistent(env, ["t1"])


def test_runner_killed_between_rewrite_and_rename_counts_the_attempt_once(env):
    # A backoff of at least half a second keeps the recovering tick from starting attempt 2 at once:
    # a base of 1 s waits 0.5 to 1 s after attempt 1 (and 1 to 2 s after attempt 2, in the drain).
    env.write_config([env.agent("impl-1", "fail.py")], max_attempts=3, retry_backoff_seconds=1)
    env.enqueue("t1")
    assert once(env, "settle_after_rewrite").returncode == 0
    env.wait_until(lambda: runner_gone(env, "t1", 1), what="the runner to die")
    # The file queue rewrote the file and died before the rename; the database's move is one
    # transaction, so there nothing of it happened. Either way the attempt counts once.
    assert env.state_of("t1") == "claimed" and env.read("t1").attempts == (1 if env.queue.kind == "file" else 0)
    Scheduler(env.config).tick()
    assert env.state_of("t1") == "incoming" and env.read("t1").attempts == 1  # counted once, not twice
    assert Runs(env.config.state_dir).get("t1", 1).result().outcome == "failed"
    env.drain()
    assert env.state_of("t1") == "failed" and env.read("t1").attempts == 3
    assert outcomes(env, "t1") == ["failed", "failed", "failed"]
    assert_consistent(env, ["t1"])


def test_daemon_killed_mid_tick_and_restarted(env):
    env.write_config([env.agent("impl-1", max_concurrent=3)], max_running=3)
    for n in range(3):
        env.enqueue(f"t{n}")
    cmd = [sys.executable, "-m", "orchestrator", "--config", str(env.config_path), "--daemon"]
    first = subprocess.Popen(cmd, env={**os.environ, "ORCHESTRATOR_CRASH_AT": "tick_after_claim"},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert first.wait(timeout=30) == -signal.SIGKILL
    assert env.queue.count("claimed") == 1
    second = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        env.wait_until(lambda: env.queue.count("provisional") == 3, timeout=60, what="all tasks to finish")
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    assert_consistent(env, ["t0", "t1", "t2"])


def test_crash_during_enqueue_publishes_nothing(env):
    env.write_config([env.agent("impl-1")])
    out = subprocess.run([sys.executable, "-m", "orchestrator", "--config", str(env.config_path),
                          "enqueue", "Half written", "--id", "half"], capture_output=True, text=True,
                         env={**os.environ, "ORCHESTRATOR_CRASH_AT": "enqueue_before_publish"}, timeout=30)
    assert out.returncode == -signal.SIGKILL
    assert env.state_of("half") is None
    if env.queue.kind != "file":  # the transaction never committed: nothing to sweep
        assert env.cli("enqueue", "Half written", "--id", "half").returncode == 0
        return
    leftovers = [p for p in env.queue.dir("incoming").iterdir() if p.name.startswith(".tmp-")]
    assert len(leftovers) == 1
    # The sweep removes temporary files once they are older than any live writer's.
    old = time.time() - 3600
    os.utime(leftovers[0], (old, old))
    Scheduler(env.config).tick()
    assert_consistent(env, [])
    assert env.cli("enqueue", "Half written", "--id", "half").returncode == 0


def test_stale_result_of_an_earlier_attempt_is_never_taken(env, agents_dir):
    env.write_config([env.agent("impl-1", "fail.py")], max_attempts=3)
    env.enqueue("t1")
    assert once(env).returncode == 0
    env.wait_until(lambda: env.state_of("t1") == "incoming", what="attempt 1 to fail")
    # Attempt 1's records say success (as if a confused writer left them); attempt 2's runner dies.
    runs = Runs(env.config.state_dir)
    first = runs.get("t1", 1)
    record = json.loads(first.result_path.read_text())
    first.result_path.write_text(json.dumps({**record, "outcome": "success", "commits": 1}))
    first.agent_result_path.write_text('{"status": "blocked", "reason": "stale"}')
    assert once(env, "runner_before_agent").returncode == 0
    env.wait_until(lambda: runner_gone(env, "t1", 2), what="attempt 2's runner to die")
    Scheduler(env.config).tick()
    assert runs.get("t1", 2).result().outcome == "runner_died"
    assert env.read("t1").attempts == 2 and env.state_of("t1") in ("incoming", "claimed")
    env.drain()
    assert env.state_of("t1") == "failed"
    assert_consistent(env, ["t1"])


def test_a_live_runner_keeps_its_task_however_old_the_claim(env):
    """After a long sleep the wall clock jumps; a runner that is alive is never taken for dead."""
    env.write_config([env.agent("impl-1", "slow.py", env={"SLEEP": "2"})])
    env.enqueue("t1")
    scheduler = Scheduler(env.config)
    scheduler.tick()
    attempt = Runs(env.config.state_dir).latest("t1")
    env.wait_until(lambda: attempt.owner() is not None, what="the runner to start")
    spec = json.loads(attempt.spec_path.read_text())
    spec["claimed_at"] = "2020-01-01T00:00:00Z"  # claimed "years ago"
    attempt.spec_path.write_text(json.dumps(spec))
    report = scheduler.tick()
    assert "t1" in report.running and report.recovered == []
    env.drain()
    assert outcomes(env, "t1") == ["success"]


def test_a_task_whose_runner_dies_every_time_fails_with_its_history(env):
    env.write_config([env.agent("impl-1")], max_attempts=2)
    env.enqueue("t1")
    for n in (1, 2):  # each tick reconciles the last death and starts a runner that dies again
        assert once(env, "runner_before_agent").returncode == 0
        env.wait_until(lambda: runner_gone(env, "t1", n), what=f"runner {n} to die")
    Scheduler(env.config).tick()
    env.wait_until(lambda: env.state_of("t1") == "failed", what="the task to fail")
    error = env.read("t1").last_error  # the latest attempt's; every attempt's is in show's runs
    assert error.startswith("attempt 2 (impl-1): runner_died")
    runs = json.loads(env.cli("show", "t1", "--json").stdout)["runs"]
    assert [(r["attempt"], r["outcome"]) for r in runs] == [(1, "runner_died"), (2, "runner_died")]


def test_an_agent_that_cannot_start_is_paused_and_burns_no_attempts(env):
    env.write_config([{"name": "ghost", "command": ["no-such-agent-binary-xyz"]}])
    for n in range(4):
        env.enqueue(f"t{n}")
    scheduler = Scheduler(env.config)
    for _ in range(3):
        scheduler.tick()
        env.wait_until(lambda: env.queue.count("claimed") == 0, what="the start failure")
    report = scheduler.tick()
    assert report.started == []
    state = json.loads((env.config.state_dir / "agents.json").read_text())["ghost"]
    assert state["start_failures"] == 3 and "no-such-agent-binary-xyz" in state["paused_reason"]
    assert all(env.read(f"t{n}").attempts == 0 for n in range(4))
    assert [e for e in env.events() if e["event"] == "agent_paused"]
