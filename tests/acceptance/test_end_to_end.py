"""The vertical slice with real git and real agent processes: task file in, branch out."""

from __future__ import annotations

import json
import time

import psutil
import pytest

from orchestrator.store.attempts import Runs
from orchestrator.tick.scheduler import Scheduler
from tests.support import processes_with


@pytest.fixture
def env(backend_env):
    """Every test here runs on both queue backends: the directories and PostgreSQL (issue 18)."""
    return backend_env


def test_success_reaches_provisional_with_commits_and_log(env):
    env.write_config([env.agent("impl-1")])
    env.enqueue("t1", "First task")
    env.drain()
    assert env.state_of("t1") == "provisional"
    assert int(env.git("rev-list", "--count", "main..agent/t1").strip()) == 1
    assert "t1-1.txt" in env.git("ls-tree", "--name-only", "agent/t1")
    # The worktree is removed when the task leaves claimed/; the branch stays.
    assert not (env.config.state_dir / "worktrees" / "t1").exists()
    assert "agent/t1" in env.git("branch", "--list", "agent/t1")
    log = (env.config.state_dir / "runs" / "t1" / "1" / "agent.log").read_text()
    assert "committed t1-1.txt" in log
    result = json.loads((env.config.state_dir / "runs" / "t1" / "1" / "result.json").read_text())
    assert result["outcome"] == "success" and result["commits"] == 1
    events = [e["event"] for e in env.events("t1")]
    assert events == ["enqueued", "claimed", "started", "succeeded"]
    # The runner deleted the old worktree's files after handing the task on, and said where its time went.
    assert not list((env.config.state_dir / "worktrees").iterdir())
    logged = (env.config.state_dir / "logs" / "orchestrator.jsonl").read_text().splitlines()
    settled = [json.loads(line) for line in logged if '"attempt_settled"' in line]
    assert set(settled[0]["seconds"]) == {"worktree", "setup", "agent", "evaluate", "settle", "cleanup"}


def test_auto_commit_commits_what_the_agent_left(env):
    env.write_config([env.agent("impl-1", "dirty.py")])
    env.enqueue("t1", "Leave it dirty")
    env.drain()
    assert env.state_of("t1") == "provisional"
    message = env.git("log", "-1", "--format=%s", "agent/t1").strip()
    assert message == "t1: Leave it dirty"


def test_without_auto_commit_uncommitted_work_is_a_failure_and_is_kept(env):
    env.write_config([env.agent("impl-1", "dirty.py")], auto_commit=False, max_attempts=1)
    env.enqueue("t1")
    env.drain()
    assert env.state_of("t1") == "failed"
    assert "no commit" in env.read("t1").last_error
    # Never destroy uncommitted work: the worktree with the change is kept.
    assert (env.config.state_dir / "worktrees" / "t1" / "t1.txt").exists()


def test_failure_retries_then_fails_with_reason(env):
    env.write_config([env.agent("impl-1", "fail.py")], max_attempts=3)
    env.enqueue("t1")
    env.drain()
    assert env.state_of("t1") == "failed"
    task = env.read("t1")
    assert task.attempts == 3
    assert "exit code 3" in task.last_error and "this agent always fails" in task.last_error
    events = [e["event"] for e in env.events("t1")]
    assert events.count("retry") == 2 and events[-1] == "failed"
    for n in (1, 2, 3):  # one log per attempt, never overwritten
        assert (env.config.state_dir / "runs" / "t1" / str(n) / "agent.log").read_text().startswith("this agent")
    shown = env.cli("show", "t1")
    assert shown.returncode == 0 and "exit code 3" in shown.stdout


def test_zero_commits_is_a_failure(env):
    env.write_config([env.agent("impl-1", "noop.py")], max_attempts=1)
    env.enqueue("t1")
    env.drain()
    assert env.state_of("t1") == "failed"
    assert "made no commit beyond the base branch" in env.read("t1").last_error


def test_backoff_delays_the_retry(env):
    env.write_config([env.agent("impl-1", "fail.py")], max_attempts=2, retry_backoff_seconds=30)
    env.enqueue("t1")
    scheduler = Scheduler(env.config)
    scheduler.tick()
    env.wait_until(lambda: env.state_of("t1") == "incoming", what="first failure")
    task = env.read("t1")
    assert task.attempts == 1 and task.retry_after is not None
    wait = (task.retry_after - task.created).total_seconds()
    assert 10 <= wait <= 40  # 30 s base, jitter between half and full
    report = scheduler.tick()
    assert report.started == []  # still backing off


def test_timeout_kills_the_whole_tree_even_if_it_ignores_sigterm(env):
    env.write_config([env.agent("impl-1", "hang.py", timeout_seconds=1)], max_attempts=1)
    env.enqueue("t1")
    env.drain(timeout=60)
    assert env.state_of("t1") == "failed"
    assert "killed after 1 s" in env.read("t1").last_error
    agent_pid = json.loads((env.config.state_dir / "runs" / "t1" / "1" / "agent.json").read_text())["pid"]
    env.wait_until(lambda: processes_with("time.sleep(600)") == [], timeout=5,
                   what=f"the processes of agent {agent_pid} to end")


def test_retry_continues_on_the_existing_branch(env):
    env.write_config([env.agent("impl-1", "commit.py")], max_attempts=3)
    env.enqueue("t1")
    env.drain()
    assert env.state_of("t1") == "provisional"
    # Send it round again by hand the way review would: the branch exists, which is normal.
    env.queue.transition("t1", "provisional", "incoming", actor="test", updates={"feedback": ("do more",)})
    env.drain()
    assert env.state_of("t1") == "provisional"
    files = env.git("ls-tree", "--name-only", "agent/t1").split()
    assert "t1-1.txt" in files and "t1-2.txt" in files
    prompt = (env.config.state_dir / "runs" / "t1" / "2" / "prompt.md").read_text()
    assert prompt.startswith("## Feedback on earlier attempts") and "do more" in prompt


def test_priorities_order_claims(env):
    env.write_config([env.agent("impl-1")], max_running=1)
    env.enqueue("low", priority="P3")
    env.enqueue("normal-old", priority="P2")
    time.sleep(0.01)
    env.enqueue("normal-new", priority="P2")
    env.enqueue("urgent", priority="P0")
    env.drain()
    order = [e["task"] for e in env.events() if e["event"] == "claimed"]
    assert order == ["urgent", "normal-old", "normal-new", "low"]


def test_role_routing_and_pinning(env):
    env.write_config([env.agent("impl-1"), env.agent("impl-2"), env.agent("docs-1", role="docs")], max_running=4)
    env.enqueue("code", role="implement")
    env.enqueue("docs", role="docs")
    env.enqueue("pinned", role="implement", agent="impl-2")
    env.drain()
    claimed_by = {}
    for run_dir in (env.config.state_dir / "runs").iterdir():
        spec = json.loads((run_dir / "1" / "spec.json").read_text())
        claimed_by[run_dir.name] = spec["agent"]
    assert claimed_by["docs"] == "docs-1"
    assert claimed_by["pinned"] == "impl-2"
    assert claimed_by["code"] in ("impl-1", "impl-2")


def test_a_task_of_a_role_nobody_has_waits(env):
    env.write_config([env.agent("impl-1")])
    env.enqueue("review-me", role="review")
    report = Scheduler(env.config).tick()
    assert report.started == [] and env.state_of("review-me") == "incoming"


def test_concurrency_caps_hold(env):
    env.write_config([env.agent("a", "slow.py", max_concurrent=2, env={"SLEEP": "3"}),
                      env.agent("b", "slow.py", max_concurrent=1, env={"SLEEP": "3"})], max_running=2)
    for n in range(5):
        env.enqueue(f"t{n}")
    report = Scheduler(env.config).tick()
    assert len(report.started) == 2  # the global cap
    report = Scheduler(env.config).tick()
    assert report.started == [] and len(report.running) == 2
    env.write_config([env.agent("a", "slow.py", max_concurrent=2, env={"SLEEP": "3"}),
                      env.agent("b", "slow.py", max_concurrent=1, env={"SLEEP": "3"})], max_running=10)
    report = Scheduler(env.config).tick()
    per_agent = {}
    for agent in report.running.values():
        per_agent[agent] = per_agent.get(agent, 0) + 1
    assert per_agent == {"a": 2, "b": 1}
    # The caps are checked; the two tasks still waiting need not run too (3 s more), only the three
    # running attempts must end.
    env.wait_until(lambda: env.queue.count("claimed") == 0, timeout=60, what="the running attempts to end")


def test_paused_agent_takes_nothing_and_interval_spaces_starts(env):
    env.write_config([env.agent("p", paused=True), env.agent("i", "slow.py", interval_seconds=3600,
                                                             max_concurrent=5, env={"SLEEP": "0"})])
    env.enqueue("t1")
    env.enqueue("t2")
    scheduler = Scheduler(env.config)
    first = scheduler.tick()
    second = scheduler.tick()
    assert [a for _, a in first.started] == ["i"] and second.started == []
    env.wait_until(lambda: env.queue.count("claimed") == 0, what="the first attempt to end")


def test_agent_environment_and_placeholders(env, tmp_path, monkeypatch):
    record_dir = tmp_path / "records"
    record_dir.mkdir()
    monkeypatch.setenv("VIRTUAL_ENV", "/somewhere/venv")
    monkeypatch.setenv("PYTHONPATH", "/somewhere/lib")
    monkeypatch.setenv("ORCH_SECRET_INTERNAL", "leak")
    agent = env.agent("impl-1", "record.py", env={"RECORD_DIR": str(record_dir)})
    agent["command"] = agent["command"][:2] + ["{task_id}", "{title}", "{branch}", "{attempt}", "{agent}",
                                               "{worktree}", "{prompt_file}"]
    env.write_config([agent])
    title = "Title with $(touch pwned) `x` ; and 'quotes'"
    env.enqueue("t1", title)
    env.drain()
    seen = json.loads((record_dir / "t1.json").read_text())
    worktree = str(env.config.state_dir / "worktrees" / "t1")
    prompt = str(env.config.state_dir / "worktrees" / "t1" / ".orchestrator-prompt.md")  # inside the worktree
    assert seen["argv"][1:] == ["t1", title, "agent/t1", "1", "impl-1", worktree, prompt]
    assert seen["cwd"] == worktree
    e = seen["env"]
    assert e["ORCH_TASK_ID"] == "t1" and e["ORCH_TASK_TITLE"] == title and e["ORCH_BRANCH"] == "agent/t1"
    assert e["ORCH_BASE_BRANCH"] == "main" and e["ORCH_AGENT"] == "impl-1" and e["ORCH_ROLE"] == "implement"
    assert e["ORCH_ATTEMPT"] == "1" and e["ORCH_WORKTREE"] == worktree and e["ORCH_PROMPT_FILE"] == prompt
    assert e["ORCH_RESULT_FILE"].endswith("agent-result.json") and e["ORCH_OUTBOX"].endswith("outbox")
    assert "VIRTUAL_ENV" not in e and "PYTHONPATH" not in e and "ORCH_SECRET_INTERNAL" not in e
    assert e["RECORD_DIR"] == str(record_dir)
    assert not list(env.root.rglob("pwned"))


def test_agent_may_say_it_is_blocked(env, agents_dir):
    (agents_dir / "blocked.py").write_text(
        "import json, os\njson.dump({'status': 'blocked', 'reason': 'need the API key'}, "
        "open(os.environ['ORCH_RESULT_FILE'], 'w'))\n")
    env.write_config([env.agent("impl-1", "blocked.py")])
    env.enqueue("t1")
    env.drain()
    assert env.state_of("t1") == "blocked"
    assert env.read("t1").blocked_reason == "need the API key"
    assert env.read("t1").attempts == 0


def test_review_none_goes_straight_to_done(env):
    env.write_config([env.agent("impl-1")], review="none")
    env.enqueue("t1")
    env.drain()
    assert env.state_of("t1") == "done"


def test_missing_agent_binary_fails_before_the_agent_runs(env):
    env.write_config([{"name": "ghost", "command": ["definitely-not-installed-xyz", "{prompt_file}"]}],
                     max_attempts=1)
    env.enqueue("t1")
    scheduler = Scheduler(env.config)
    scheduler.tick()
    env.wait_until(lambda: env.state_of("t1") == "incoming", what="the start failure")
    task = env.read("t1")
    assert "start_failed" in task.last_error and "definitely-not-installed-xyz" in task.last_error
    assert task.attempts == 0  # a start failure is not the task's fault


def test_once_returns_at_once_while_the_agent_keeps_running(env):
    env.write_config([env.agent("impl-1", "slow.py", env={"SLEEP": "3"})])
    env.enqueue("t1")
    started = time.monotonic()
    done = env.cli("--once")
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 2.5
    assert env.state_of("t1") == "claimed"
    runner = Runs(env.config.state_dir).latest("t1").launch_record()
    assert runner and psutil.pid_exists(runner["pid"]), "the runner outlived the --once process that started it"
    env.wait_until(lambda: env.state_of("t1") == "provisional", timeout=30, what="the detached runner to finish")
