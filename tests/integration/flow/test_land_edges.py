"""Edge cases of the merge queue found in review: each test failed before its fix. Real git, real checks,
real agents."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from orchestrator import Orchestrator
from orchestrator.flow.land import land_until_idle
from tests.integration.flow.test_land import CHECK, checked_commits, queue_config, waiting_to_land
from tests.support import waits_for_lock


@pytest.fixture
def check(env) -> list[str]:
    (env.root / "check.py").write_text(textwrap.dedent(CHECK))
    return [sys.executable, str(env.root / "check.py")]


# A check that passes only where the setup ran (ready.marker is gitignored: the slot's clean keeps it).
NEEDS_SETUP = [sys.executable, "-c", "import pathlib, sys; sys.exit(0 if pathlib.Path('ready.marker').exists() "
               "else 'ready.marker missing: the setup never ran here')"]
SETUP = [sys.executable, "-c", "open('ready.marker', 'w').close()"]


def commit_file(env, name: str, text: str, message: str) -> None:
    (env.repo / name).write_text(text)
    env.git("add", name)
    env.git("commit", "-q", "-m", message)


def test_rebase_strategy_checks_in_a_slot_the_setup_made_ready(env):
    # The rebase used check slot 0 as its scratch worktree and created it without copy_files and setup,
    # so every later check in slot 0 ran in a slot the setup never saw.
    commit_file(env, ".gitignore", "ready.marker\n", "ignore the setup's marker")
    queue_config(env, check=NEEDS_SETUP, setup=SETUP, land_strategy="rebase", land_parallel=1)
    waiting_to_land(env, "a", {"a.txt": "a\n"})
    rounds = land_until_idle(env.config, env.queue)
    assert env.state_of("a") == "done", [r.returned for r in rounds]


def test_an_untracked_file_in_the_persons_checkout_makes_the_queue_wait(env, check):
    # git refuses the fast-forward (the untracked file would be overwritten): that must be a wait, not
    # a GitError out of the lander (which the daemon restarted every tick_seconds, checks and all).
    queue_config(env, check=check)
    waiting_to_land(env, "a", {"a.txt": "a\n"})
    before = env.git("rev-parse", "main").strip()
    (env.repo / "a.txt").write_text("mine, not tracked\n")
    rounds = land_until_idle(env.config, env.queue)
    assert rounds[-1].waiting and "a.txt" in rounds[-1].waiting
    assert env.git("rev-parse", "main").strip() == before and env.state_of("a") == "landing"
    assert (env.repo / "a.txt").read_text() == "mine, not tracked\n"
    assert not (env.config.state_dir / "landing" / "progress.json").exists()


def test_a_dirty_checkout_of_the_base_waits_without_running_the_check(env, check):
    # The base cannot move while the person's checkout has tracked changes; a check run then is
    # wasted, and the daemon starts a lander again every tick_seconds: a check each time, for hours.
    queue_config(env, check=check)
    waiting_to_land(env, "a", {"a.txt": "a\n"})
    (env.repo / "README.md").write_text("# my edit, not committed\n")
    rounds = land_until_idle(env.config, env.queue)
    assert rounds[-1].waiting and "uncommitted changes to tracked files" in rounds[-1].waiting
    assert sum(r.checks for r in rounds) == 0 and not checked_commits(env)
    assert env.state_of("a") == "landing"


def test_rebase_strategy_lands_a_branch_whose_conflict_was_resolved_by_a_merge(env, check):
    queue_config(env, check=check, land_strategy="rebase")
    env.git("branch", "agent/x", "main")
    commit_file(env, "shared.txt", "main's line\n", "main writes shared.txt")
    tree = env.root / "wt-x"
    env.git("worktree", "add", "-q", str(tree), "agent/x")
    (tree / "shared.txt").write_text("x's line\n")
    subprocess.run(["git", "-C", str(tree), "add", "shared.txt"], check=True)
    subprocess.run(["git", "-C", str(tree), "commit", "-q", "-m", "x writes shared.txt"], check=True)
    merged = subprocess.run(["git", "-C", str(tree), "merge", "-q", "main"], capture_output=True, text=True)
    assert merged.returncode != 0  # a conflict, resolved as the agent would after a send-back
    (tree / "shared.txt").write_text("main's line\nx's line\n")
    subprocess.run(["git", "-C", str(tree), "commit", "-q", "-am", "resolve"], check=True)
    env.git("worktree", "remove", str(tree))
    env.enqueue("x")
    env.queue.transition("x", "incoming", "provisional", actor="test")
    Orchestrator(env.config_path).accept("x")
    rounds = land_until_idle(env.config, env.queue)
    # a rebase dropped the merge in which the agent resolved the conflict, so x's first commit conflicted
    # again on every round until the task was blocked; the branch lands as one squashed commit instead
    assert env.state_of("x") == "done", [r.returned for r in rounds]
    assert env.git("show", "main:shared.txt") == "main's line\nx's line\n"
    assert env.git("rev-list", "--merges", "main") == "" and env.git("rev-list", "--count", "main^..main") == "1\n"
    message = env.git("log", "-1", "--format=%B", "main")
    assert "Task x (agent/x)" in message and "x writes shared.txt" in message and "resolve" in message


# Writes shared.txt; sent back with a conflict, it exits 0 without resolving anything.
LAZY = """
    import os, pathlib, subprocess
    task = os.environ["ORCH_TASK_ID"]
    if "Merge conflict to resolve" in pathlib.Path(os.environ["ORCH_PROMPT_FILE"]).read_text():
        print("not resolving anything")
        raise SystemExit(0)
    pathlib.Path("shared.txt").write_text("line by " + task + "\\n")
    subprocess.run(["git", "add", "shared.txt"], check=True)
    subprocess.run(["git", "commit", "-q", "-m", task + " writes shared.txt"], check=True)
"""


def test_conflict_markers_of_an_unfinished_merge_are_never_committed_or_landed(env):
    # auto_commit committed what the agent left: the merge of main, its conflict markers unresolved;
    # with no check the markers then merged cleanly onto main.
    (env.agents_dir / "lazy.py").write_text(textwrap.dedent(LAZY))
    env.write_config([env.agent("impl", "lazy.py", max_concurrent=1)], merge="queue", review="none",
                     max_attempts=1, max_land_attempts=3)
    env.enqueue("one")
    env.enqueue("two")
    env.drain(timeout=120)
    shared = env.git("show", "main:shared.txt")
    assert "<<<<<<<" not in shared and "=======" not in shared, shared
    sent_back = [t for t in ("one", "two") if env.read(t).land_attempts]
    assert len(sent_back) == 1 and env.state_of(sent_back[0]) == "failed"
    assert "unresolved" in (env.read(sent_back[0]).last_error or "")


def test_a_cancel_while_the_base_moves_waits_for_the_landing_instead_of_being_landed(env, check):
    # The lander looked into landing/, then moved the base: a cancel in between was not seen, and the
    # cancelled task's commits reached main while the task sat in failed/. The lander now holds the
    # tasks' locks from that look until they are in done/, so the cancel waits and finds b landed.
    queue_config(env, check=check)
    waiting_to_land(env, "a", {"a.txt": "a\n"})
    waiting_to_land(env, "b", {"b.txt": "b\n"})
    held = env.root / "held-before-move"
    cli = [sys.executable, "-m", "orchestrator", "--config", str(env.config_path)]
    lander = subprocess.Popen([*cli, "land"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "ORCHESTRATOR_HOLD_AT": f"land_before_move:{held}"})
    try:
        env.wait_until(held.exists, what="the lander to reach the move of the base")
        cancel = subprocess.Popen([*cli, "cancel", "b"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lock = env.queue.locks / "b.lock"
        env.wait_until(lambda: cancel.poll() is not None or waits_for_lock(cancel.pid, lock),
                       what="the cancel to finish or to wait for b's lock")
        held.unlink()
        assert lander.wait(timeout=60) == 0
        _, err = cancel.communicate(timeout=60)
    finally:
        held.unlink(missing_ok=True)
        lander.kill()
    landed = set(env.git("ls-tree", "--name-only", "main").split())
    assert env.state_of("b") == ("done" if "b.txt" in landed else "failed")  # never cancelled and landed
    assert env.state_of("a") == "done" and "b.txt" in landed and "already in done/" in err


def test_land_with_the_queue_paused_starts_no_round_and_says_so(env, check):
    # The lander ignored PAUSE: with everything paused it still built, checked and landed.
    queue_config(env, check=check)
    waiting_to_land(env, "a", {"a.txt": "a\n"})
    before = env.git("rev-parse", "main").strip()
    assert env.cli("pause").returncode == 0
    out = env.cli("land")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("paused: by person at ") and "until 'resume'" in out.stdout, out.stdout
    assert env.state_of("a") == "landing" and env.git("rev-parse", "main").strip() == before
    assert not checked_commits(env)
    assert "no lander while all is paused" in env.cli("status").stdout
    env.cli("resume")
    assert "landed: a" in env.cli("land").stdout and env.state_of("a") == "done"


def test_a_pause_during_a_check_lets_that_round_land_and_starts_no_other(env, check):
    queue_config(env, check=check, land_batch=1)
    waiting_to_land(env, "a", {"a.txt": "a\n"})
    waiting_to_land(env, "b", {"b.txt": "b\n"})
    orch = Orchestrator(env.config_path)
    rounds = land_until_idle(env.config, env.queue, on_check=lambda result: orch.pause())
    assert [r.landed for r in rounds] == [["a"], []] and rounds[-1].paused
    assert env.state_of("a") == "done" and env.state_of("b") == "landing" and len(checked_commits(env)) == 1


def test_the_daemon_starts_no_lander_while_paused(env, check, daemon):
    queue_config(env, check=check, tick_seconds=0.2)
    waiting_to_land(env, "a", {"a.txt": "a\n"})
    env.cli("pause")
    daemon.start()
    env.wait_for_a_tick()
    env.wait_for_a_tick()
    assert not (env.config.state_dir / "landing" / "lander.log").exists() and env.state_of("a") == "landing"
    env.cli("resume")
    env.wait_until(lambda: env.state_of("a") == "done", timeout=60, what="a to land after resume")


def test_a_task_file_in_landing_that_cannot_be_parsed_is_quarantined(env, check):
    # The lander meant to skip it ("quarantined by the tick") but caught only OSError and ValueError:
    # the TaskFileError escaped and killed every lander, which the tick started again each tick_seconds;
    # and skipped, it would have stayed anyway (the tick quarantines only incoming/ and blocked/).
    queue_config(env, check=check)
    waiting_to_land(env, "a", {"a.txt": "a\n"})
    bad = env.queue.dir("landing") / "bad.md"
    bad.write_text("---\ntitle: [unclosed\n---\nbody\n")
    rounds = land_until_idle(env.config, env.queue)
    assert [t for r in rounds for t in r.landed] == ["a"] and env.state_of("a") == "done"
    assert not bad.exists() and env.queue.count("landing") == 0
    invalid = env.queue.root / "invalid"
    assert (invalid / "bad.md").exists() and "bad.md" in (invalid / "bad.md.why").read_text()
    assert [e["from"] for e in env.events() if e["event"] == "quarantined"] == ["landing"]
    assert "nothing to land" in env.cli("land").stdout


def test_a_setup_failing_in_a_new_check_slot_is_a_wait_not_the_tasks_fault(env, check):
    # A broken environment (here the setup exits 3) failed every candidate: each batch was bisected and
    # its first task sent back with a land attempt counted, for a problem no agent can fix.
    broken_setup = [sys.executable, "-c", "import sys; print('pip: no route to the index'); sys.exit(3)"]
    queue_config(env, check=check, setup=broken_setup)
    waiting_to_land(env, "a", {"a.txt": "a\n"})
    waiting_to_land(env, "b", {"b.txt": "b\n"})
    out = env.cli("land")
    assert out.returncode == 0, out.stderr
    assert "waiting: in a new check slot: setup " in out.stdout and "pip: no route to the index" in out.stdout, out.stdout
    assert env.state_of("a") == env.state_of("b") == "landing"
    assert env.read("a").land_attempts == env.read("b").land_attempts == 0
    assert not [e for e in env.events() if e["event"] == "land_returned"]
    queue_config(env, check=check, setup=SETUP)  # the environment is fixed: the slot is made again
    rounds = land_until_idle(env.config, env.queue)
    assert [t for r in rounds for t in r.landed] == ["a", "b"]


def test_a_check_slot_is_made_ready_as_an_agents_worktree_is(env, check):
    # landcheck had its own copy of the runner's make_ready, and they drifted apart: a setup that could
    # not start was "(exit code None)" in a check slot but "could not start: ..." for an agent, and the
    # slot's setup log had no max_log_mb cap. Both now call flow/prepare.make_ready.
    missing = [str(env.root / "no-such-setup")]
    queue_config(env, check=check, setup=missing, max_attempts=1)
    waiting_to_land(env, "a", {"a.txt": "a\n"})
    waited = land_until_idle(env.config, env.queue)[-1].waiting or ""
    env.enqueue("b")
    env.drain(timeout=60)
    assert env.state_of("b") == "failed"
    why = f"setup {missing[0]!r} failed (could not start: "
    assert why in waited and why in (env.read("b").last_error or ""), (waited, env.read("b").last_error)
