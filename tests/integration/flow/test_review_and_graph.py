"""Review (people and agents), the dependency graph, retry, cancel and breakdown, with real git."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from orchestrator.store.attempts import Runs
from orchestrator.tick.scheduler import Scheduler
from tests.support import processes_with

REVIEWER = textwrap.dedent("""
    import json, os, pathlib, sys
    diff = pathlib.Path(os.environ["ORCH_DIFF_FILE"]).read_text()
    verdict = os.environ.get("VERDICT", "accept")
    if verdict == "reject":
        json.dump({"status": "rejected", "reason": "add a test"}, open(os.environ["ORCH_RESULT_FILE"], "w"))
    elif verdict == "exit":
        sys.exit(2)
    elif verdict == "crash":
        os.kill(os.getpid(), 9)
    print("reviewed", len(diff), "bytes of diff")
""")
BREAKDOWN = textwrap.dedent("""
    import os, pathlib
    out = pathlib.Path(os.environ["ORCH_OUTBOX"])
    (out / "schema.md").write_text("---\\ntitle: Design the schema\\n---\\nTables first.\\n")
    (out / "api.md").write_text("---\\ntitle: Build the API\\ndepends_on: [schema]\\n---\\nThen the API.\\n")
""")


def finish(env, task_id, state="provisional"):
    env.drain()
    assert env.state_of(task_id) == state


# ---- people review -----------------------------------------------------------------

def test_accept_without_merge_moves_to_done_and_leaves_base_alone(env):
    env.write_config([env.agent("impl-1")])
    env.enqueue("t1")
    finish(env, "t1")
    before = env.git("rev-parse", "main")
    out = env.cli("accept", "t1")
    assert out.returncode == 0 and env.state_of("t1") == "done"
    assert env.git("rev-parse", "main") == before


def test_accept_with_merge_fast_forwards_the_checked_out_base(env):
    env.write_config([env.agent("impl-1")])
    env.enqueue("t1")
    finish(env, "t1")
    out = env.cli("accept", "t1", "--merge")
    assert out.returncode == 0, out.stderr
    assert env.git("rev-parse", "main") == env.git("rev-parse", "agent/t1")
    assert (env.repo / "t1-1.txt").exists()  # the checkout was updated too


def test_merge_commit_when_base_moved_on(env):
    env.write_config([env.agent("impl-1")])
    env.enqueue("t1")
    finish(env, "t1")
    (env.repo / "other.txt").write_text("meanwhile\n")
    env.git("add", "other.txt")
    env.git("commit", "-qm", "base moved on")
    assert env.cli("accept", "t1", "--merge").returncode == 0
    assert len(env.git("log", "-1", "--format=%P", "main").split()) == 2


def test_merge_conflict_is_refused_and_nothing_changes(env):
    env.write_config([env.agent("impl-1")])
    env.enqueue("t1")
    finish(env, "t1")
    (env.repo / "t1-1.txt").write_text("a conflicting line\n")
    env.git("add", "t1-1.txt")
    env.git("commit", "-qm", "conflicting change on main")
    main_before, branch_before = env.git("rev-parse", "main"), env.git("rev-parse", "agent/t1")
    out = env.cli("accept", "t1", "--merge")
    assert out.returncode == 1
    assert "would conflict with main in: t1-1.txt" in out.stderr and "nothing was changed" in out.stderr
    assert env.state_of("t1") == "provisional"
    assert env.git("rev-parse", "main") == main_before and env.git("rev-parse", "agent/t1") == branch_before
    assert env.git("status", "--porcelain") == ""


def test_merge_refused_when_base_checkout_is_dirty(env):
    env.write_config([env.agent("impl-1")])
    env.enqueue("t1")
    finish(env, "t1")
    (env.repo / "README.md").write_text("local edits\n")
    out = env.cli("accept", "t1", "--merge")
    assert out.returncode == 1 and "uncommitted changes to tracked files" in out.stderr
    assert (env.repo / "README.md").read_text() == "local edits\n" and env.state_of("t1") == "provisional"


def test_reject_sends_feedback_to_the_next_attempt_on_the_same_branch(env):
    env.write_config([env.agent("impl-1")])
    env.enqueue("t1")
    finish(env, "t1")
    out = env.cli("reject", "t1", "--reason", "Handle the empty list too")
    assert out.returncode == 0 and env.state_of("t1") in ("incoming",)
    finish(env, "t1")
    prompt = (env.config.state_dir / "runs" / "t1" / "2" / "prompt.md").read_text()
    assert prompt.startswith("## Feedback on earlier attempts") and "Handle the empty list too" in prompt
    files = env.git("ls-tree", "--name-only", "agent/t1").split()
    assert "t1-1.txt" in files and "t1-2.txt" in files


def test_max_rejections_fails_the_task_with_the_history(env):
    env.write_config([env.agent("impl-1")], max_rejections=2)
    env.enqueue("t1")
    for reason in ("first reason", "second reason"):
        finish(env, "t1")
        env.cli("reject", "t1", "--reason", reason)
    assert env.state_of("t1") == "failed"
    error = env.read("t1").last_error
    assert "rejected 2 times" in error and "first reason" in error and "second reason" in error


# ---- agent review -------------------------------------------------------------------

@pytest.fixture
def reviewer(env, agents_dir):
    (agents_dir / "review.py").write_text(REVIEWER)
    return lambda verdict: env.agent("rev-1", "review.py", role="review", env={"VERDICT": verdict})


def test_reviewer_agent_accepts_and_merges(env, reviewer):
    env.write_config([env.agent("impl-1"), reviewer("accept")], review="agent", merge_on_accept=True)
    env.enqueue("t1")
    finish(env, "t1", "done")
    assert env.git("rev-parse", "main") == env.git("rev-parse", "agent/t1")
    review_run = Runs(env.config.state_dir).get("t1", 2)
    assert review_run.spec().phase == "review" and review_run.result().outcome == "accepted"
    assert "reviewed" in review_run.log_path.read_text() and review_run.diff_path.read_text().startswith("diff --git")


@pytest.mark.parametrize("verdict, reason", [("reject", "add a test"), ("exit", "the reviewer exited 2")])
def test_reviewer_agent_rejects_with_feedback(env, reviewer, verdict, reason):
    env.write_config([env.agent("impl-1"), reviewer(verdict)], review="agent", max_rejections=1)
    env.enqueue("t1")
    env.drain()
    assert env.state_of("t1") == "failed"  # max_rejections 1: the first rejection is the last
    assert reason in env.read("t1").last_error


def test_an_agent_review_takes_the_branch_from_a_persons_checkout_and_its_verdict_removes_it(env, reviewer):
    env.write_config([env.agent("impl-1")], review="agent")  # no reviewer yet: the task waits in provisional/
    env.enqueue("t1")
    finish(env, "t1")
    checkout = env.cli("checkout", "t1")
    review = env.config.state_dir / "review" / "t1"
    assert checkout.stdout == f"{review}\n" and env.git("worktree", "list").count("[agent/t1]") == 1
    env.write_config([env.agent("impl-1"), reviewer("accept")], review="agent", merge_on_accept=True)
    finish(env, "t1", "done")  # the reviewer's worktree needed the branch the checkout had
    assert Runs(env.config.state_dir).get("t1", 2).result().outcome == "accepted"
    assert not review.exists() and str(review) not in env.git("worktree", "list")


def test_a_reviewer_that_crashes_does_not_reject(env, reviewer):
    env.write_config([env.agent("impl-1"), reviewer("crash")], review="agent", retry_backoff_seconds=60)
    env.enqueue("t1")
    scheduler = Scheduler(env.config)
    env.wait_until(lambda: scheduler.tick() and env.state_of("t1") == "provisional"
                   and len(Runs(env.config.state_dir).attempts("t1")) >= 2
                   and Runs(env.config.state_dir).get("t1", 2).result() is not None, what="a crashed review")
    assert Runs(env.config.state_dir).get("t1", 2).result().outcome == "review_error"
    task = env.read("t1")
    assert task.feedback == () and task.retry_after is not None  # not rejected; reviewed again later
    assert env.state_of("t1") == "provisional"


def test_review_none_merges_when_configured(env):
    env.write_config([env.agent("impl-1")], review="none", merge_on_accept=True)
    env.enqueue("t1")
    finish(env, "t1", "done")
    assert env.git("rev-parse", "main") == env.git("rev-parse", "agent/t1")


# ---- the graph ----------------------------------------------------------------------

def test_dependency_released_the_moment_it_is_done(env):
    env.write_config([env.agent("impl-1")], review="none")
    assert env.cli("enqueue", "First", "--id", "a").returncode == 0
    assert env.cli("enqueue", "Second", "--id", "b", "--depends-on", "a").returncode == 0
    assert env.state_of("b") == "blocked"
    scheduler = Scheduler(env.config)
    scheduler.tick()
    env.wait_until(lambda: env.state_of("a") == "done", what="a to finish")
    # Released by the runner that completed a, right after its move to done/, before any tick ran
    # (no tick runs here until the drain below).
    env.wait_until(lambda: env.state_of("b") == "incoming", timeout=10, what="b to be released")
    released = [e for e in env.events("b") if e["event"] == "released"]
    assert released and released[0]["actor"] == "runner"
    env.drain()
    assert env.state_of("b") == "done"


def test_failed_dependency_keeps_dependents_blocked_with_the_reason(env):
    env.write_config([env.agent("impl-1", "fail.py")], max_attempts=1)
    env.cli("enqueue", "Will fail", "--id", "a")
    env.cli("enqueue", "Waits", "--id", "b", "--depends-on", "a")
    env.drain()
    assert env.state_of("a") == "failed" and env.state_of("b") == "blocked"
    shown = json.loads(env.cli("show", "b", "--json").stdout)
    assert shown["waiting_for"] == [{"id": "a", "state": "failed"}]
    assert "waiting for a, which failed" in env.cli("show", "b").stdout
    assert json.loads(env.cli("status", "--json").stdout)["blocked_by_failed"] == 1


def test_unknown_dependency_and_cycles_are_refused(env):
    env.write_config([env.agent("impl-1")])
    out = env.cli("enqueue", "x", "--depends-on", "ghost")
    assert out.returncode == 2 and "no such task" in out.stderr
    from orchestrator.base.errors import StateError
    from orchestrator.flow import enqueue
    from orchestrator.formats.task import Task
    loop = [Task(id="a", title="A", depends_on=("c",)), Task(id="b", title="B", depends_on=("a",)),
            Task(id="c", title="C", depends_on=("b",))]
    with pytest.raises(StateError, match=r"dependency cycle: a -> c -> b -> a"):
        enqueue.enqueue(env.queue, loop, actor="test")
    assert env.queue.count("incoming") == 0 and env.queue.count("blocked") == 0


def test_retry_from_failed_and_from_blocked(env, agents_dir):
    env.write_config([env.agent("impl-1", "fail.py")], max_attempts=1)
    env.enqueue("t1")
    env.drain()
    assert env.state_of("t1") == "failed"
    assert env.cli("retry", "t1").stdout.strip() == "t1: incoming"
    assert env.read("t1").attempts == 0
    env.queue.transition("t1", "incoming", "blocked", actor="test", updates={"blocked_reason": "need a key"})
    assert env.cli("retry", "t1").stdout.strip() == "t1: incoming" and env.read("t1").blocked_reason is None
    out = env.cli("retry", "t1")
    assert out.returncode == 1 and "retry takes a task from failed/ or blocked/" in out.stderr


def test_cancel_a_running_task_kills_its_tree(env, agents_dir):
    (agents_dir / "tree.py").write_text(
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)  # cancel-me-tree'])\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)  # cancel-me-tree'], "
        "start_new_session=True)\n"
        "time.sleep(600)\n")
    env.write_config([env.agent("impl-1", "tree.py")])
    env.enqueue("t1")
    Scheduler(env.config).tick()
    env.wait_until(lambda: len(processes_with("cancel-me-tree")) == 2, what="the agent's tree")
    out = env.cli("cancel", "t1")
    assert out.returncode == 0, out.stderr
    assert env.state_of("t1") == "failed" and "cancelled" in env.read("t1").last_error
    env.wait_until(lambda: processes_with("cancel-me-tree") == [], timeout=5, what="the cancelled tree to end")
    assert env.cli("cancel", "t1").returncode == 1


def test_a_cancel_killed_half_way_is_finished_by_the_next_tick_and_costs_no_attempt(env):
    env.write_config([env.agent("impl-1", "hang.py")], max_attempts=2)
    env.enqueue("t1")
    Scheduler(env.config).tick()
    env.wait_until(lambda: len(processes_with("time.sleep(600)")) >= 2, what="the hanging agent")
    killed = subprocess.run([sys.executable, "-m", "orchestrator", "--config", str(env.config_path), "cancel", "t1"],
                            env={**os.environ, "ORCHESTRATOR_CRASH_AT": "stop_before_kill"}, cwd=env.root,
                            capture_output=True, text=True, timeout=60)
    assert killed.returncode == -9  # killed after it wrote the result, before it killed anything
    assert env.state_of("t1") == "claimed"
    # The runner still runs; the next tick sees the cancel's result and finishes the cancel.
    env.wait_until(lambda: Scheduler(env.config).tick() and env.state_of("t1") == "failed", timeout=30,
                   what="the cancel to be finished")
    task = env.read("t1")
    assert task.attempts == 0 and "cancelled" in task.last_error
    env.wait_until(lambda: processes_with("time.sleep(600)") == [], timeout=10, what="the agent to be gone")


def test_cancel_a_waiting_task(env):
    env.write_config([env.agent("impl-1")])
    env.enqueue("t1")
    assert env.cli("cancel", "t1").returncode == 0 and env.state_of("t1") == "failed"


# ---- breakdown ----------------------------------------------------------------------

def test_breakdown_creates_subtasks_and_the_parent_completes_after_them(env, agents_dir):
    (agents_dir / "breakdown.py").write_text(BREAKDOWN)
    env.write_config([env.agent("splitter", "breakdown.py", role="breakdown"), env.agent("impl-1")],
                     review="none")
    env.enqueue("big", "Build the feature", role="breakdown")
    scheduler = Scheduler(env.config)
    scheduler.tick()
    env.wait_until(lambda: env.state_of("big") == "blocked", what="the breakdown")
    parent = env.read("big")
    assert parent.subtasks == ("big.api", "big.schema")
    api = env.read("big.api")
    assert api.parent == "big" and api.depends_on == ("big.schema",) and env.state_of("big.api") == "blocked"
    env.drain()
    assert env.state_of("big.schema") == "done" and env.state_of("big.api") == "done"
    assert env.state_of("big") == "done"
    order = [e["task"] for e in env.events() if e["event"] == "done"]
    assert order[-1] == "big"


def test_invalid_outbox_is_reported_not_dropped(env, agents_dir):
    (agents_dir / "bad_breakdown.py").write_text(
        "import os, pathlib\nout = pathlib.Path(os.environ['ORCH_OUTBOX'])\n"
        "(out / 'good.md').write_text('---\\ntitle: fine\\n---\\n')\n"
        "(out / 'bad.md').write_text('---\\ntitle: x\\nattempts: 5\\n---\\n')\n")
    env.write_config([env.agent("splitter", "bad_breakdown.py", role="breakdown")], max_attempts=1)
    env.enqueue("big", role="breakdown")
    env.drain()
    assert env.state_of("big") == "failed"
    error = env.read("big").last_error
    assert "bad.md" in error and "'attempts' is set by the orchestrator" in error
    assert env.state_of("big.good") is None  # nothing half-enqueued


def test_breakdown_depth_is_limited(env, agents_dir):
    (agents_dir / "breakdown.py").write_text(BREAKDOWN)
    env.write_config([env.agent("splitter", "breakdown.py", role="breakdown")], max_breakdown_depth=1,
                     max_attempts=1)
    env.enqueue("root", role="breakdown")
    env.enqueue("child", role="breakdown", parent="root")
    env.drain(timeout=90)
    assert "max_breakdown_depth" in env.read("child").last_error
