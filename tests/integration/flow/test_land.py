"""The merge queue with real git, real checks and real agents: main only ever moves to a commit that
passed the check, conflicts and failures go back to their tasks, a crash anywhere recovers.

Issue "From a finished branch to main", item 3 and its end-to-end tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestrator import Orchestrator
from orchestrator.flow.land import Lander, land_until_idle

# The project's check: fails when a tracked .txt file says BROKEN; its first argument is how long it takes.
CHECK = """
    import pathlib, subprocess, sys, time
    time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0)
    tracked = subprocess.run(["git", "ls-files", "*.txt"], capture_output=True, text=True).stdout.split()
    bad = [name for name in tracked if "BROKEN" in pathlib.Path(name).read_text()]
    if bad:
        print("check failed: BROKEN in", ", ".join(bad))
        sys.exit(1)
    print("check passed")
"""

# An agent that writes shared.txt (so two of them conflict) or, when the merge queue sent its branch
# back with a conflict, resolves it by keeping both sides' lines; and fixes a BROKEN file when told.
RESOLVER = """
    import os, pathlib, subprocess
    task = os.environ["ORCH_TASK_ID"]
    prompt = pathlib.Path(os.environ["ORCH_PROMPT_FILE"]).read_text()
    shared = pathlib.Path("shared.txt")
    if shared.exists() and "<<<<<<<" in shared.read_text():
        assert "Merge conflict to resolve" in prompt and "shared.txt" in prompt, prompt
        keep = [l for l in shared.read_text().splitlines() if not l.startswith(("<<<<<<<", "=======", ">>>>>>>"))]
        shared.write_text("\\n".join(keep) + "\\n")
        subprocess.run(["git", "add", "shared.txt"], check=True)
        subprocess.run(["git", "commit", "-q", "--no-edit"], check=True)
        print("resolved the conflict")
    elif "BROKEN in" in prompt:
        pathlib.Path(task + ".txt").write_text("fixed\\n")
        subprocess.run(["git", "commit", "-q", "-am", "fix what the check said"], check=True)
        print("fixed the check")
    else:
        name = "shared.txt" if "conflict" in task else task + ".txt"
        pathlib.Path(name).write_text(("BROKEN " if "broken" in task else "") + "line by " + task + "\\n")
        subprocess.run(["git", "add", name], check=True)
        subprocess.run(["git", "commit", "-q", "-m", task + " writes " + name], check=True)
        print("wrote", name)
"""


@pytest.fixture
def check(env) -> list[str]:
    (env.root / "check.py").write_text(textwrap.dedent(CHECK))
    return [sys.executable, str(env.root / "check.py")]


def queue_config(env, check=None, **settings):
    (env.agents_dir / "resolver.py").write_text(textwrap.dedent(RESOLVER))
    agent = env.agent("impl", "resolver.py", max_concurrent=4)
    return env.write_config([agent], **{"merge": "queue", "check": check, "review": "human", **settings})


def waiting_to_land(env, task_id: str, files: dict[str, str], *, base: str = "main") -> str:
    """A task whose branch (made here with git, as an agent would) was accepted into the merge queue."""
    worktree = env.root / f"wt-{task_id}"
    env.git("worktree", "add", "-q", "-b", f"agent/{task_id}", str(worktree), base)
    for name, text in files.items():
        (worktree / name).write_text(text)
    subprocess.run(["git", "-C", str(worktree), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(worktree), "commit", "-q", "-m", f"work on {task_id}"], check=True)
    env.git("worktree", "remove", str(worktree))
    env.enqueue(task_id)
    env.queue.transition(task_id, "incoming", "provisional", actor="test")
    Orchestrator(env.config_path).accept(task_id)
    assert env.state_of(task_id) == "landing"
    return env.git("rev-parse", f"agent/{task_id}").strip()


def first_parents(env) -> list[str]:
    return env.git("rev-list", "--first-parent", "main").split()


def checked_commits(env) -> set[str]:
    """Every commit a check ran on (from the check logs' names: <time>-<commit[:12]>-slot<n>.log)."""
    logs = env.config.state_dir / "landing" / "checks"
    return {p.name.split("-")[1] for p in logs.glob("*.log")} if logs.exists() else set()


def assert_main_green(env, check_cmd) -> None:
    """Every commit main's first-parent line went through since the test's start passes the check."""
    for commit in first_parents(env):
        tree = env.root / f"verify-{commit[:8]}"
        env.git("worktree", "add", "-q", "--detach", str(tree), commit)
        done = subprocess.run([*check_cmd, "0"], cwd=tree, capture_output=True, text=True)
        env.git("worktree", "remove", "--force", str(tree))
        assert done.returncode == 0, f"main's commit {commit[:12]} fails the check: {done.stdout}"


def test_accepting_with_merge_queue_lands_only_after_the_check(env, check):
    queue_config(env, check=check, land_parallel=1)
    before = env.git("rev-parse", "main").strip()
    waiting_to_land(env, "a", {"a.txt": "a\n"})
    waiting_to_land(env, "b", {"b.txt": "b\n"})
    assert env.git("rev-parse", "main").strip() == before  # accepted, not yet landed
    rounds = land_until_idle(env.config, env.queue)
    assert [r.landed for r in rounds] == [["a", "b"]] and rounds[0].checks == 1
    assert env.state_of("a") == env.state_of("b") == "done"
    main = env.git("rev-parse", "main").strip()
    assert main[:12] in checked_commits(env)  # main moved to exactly the commit the check passed on
    assert env.git("rev-list", "--first-parent", f"{before}..main").split() == [main, env.git(
        "rev-parse", "main^").strip()]  # one merge commit per branch, in queue order
    assert "Merge agent/b" in env.git("log", "-1", "--format=%s", "main")
    landed = [e for e in env.events() if e["event"] == "landed"]
    assert {e["task"] for e in landed} == {"a", "b"} and all(e["landed"] == main for e in landed)


def test_a_batch_of_five_with_one_bad_branch_lands_the_other_four(env, check):
    queue_config(env, check=check, land_parallel=1)
    for name in ("one", "two", "three", "four", "five"):
        waiting_to_land(env, name, {f"{name}.txt": ("BROKEN\n" if name == "three" else f"{name}\n")})
    rounds = land_until_idle(env.config, env.queue)
    landed = [t for r in rounds for t in r.landed]
    assert sorted(landed) == ["five", "four", "one", "two"]
    assert [t for r in rounds for t, _ in r.returned] == ["three"]
    assert env.state_of("three") == "incoming"
    task = env.read("three")
    assert task.land_attempts == 1 and "BROKEN in three.txt" in task.feedback[-1]
    assert sum(r.checks for r in rounds) <= 5  # the batch, a bisection, then the rest: not one check each
    assert "three.txt" not in env.git("ls-tree", "-r", "--name-only", "main")
    assert_main_green(env, check)


def test_parallel_bisection_finds_the_bad_branch_in_fewer_rounds(env, check):
    queue_config(env, check=check, land_parallel=4)
    names = [f"t{i}" for i in range(1, 7)]
    for name in names:
        waiting_to_land(env, name, {f"{name}.txt": "BROKEN\n" if name == "t5" else f"{name}\n"})
    rounds = land_until_idle(env.config, env.queue)
    assert sorted(t for r in rounds for t in r.landed) == ["t1", "t2", "t3", "t4", "t6"]
    assert env.state_of("t5") == "incoming"
    assert_main_green(env, check)


def test_conflicting_tasks_the_second_goes_back_and_lands_after_its_agent_resolves_it(env):
    queue_config(env, review="none")
    env.enqueue("conflict-a")
    env.enqueue("conflict-b")
    env.drain(timeout=120)  # runs both, lands one, sends the other back, runs it again, lands it
    assert env.state_of("conflict-a") == env.state_of("conflict-b") == "done"
    assert sorted(env.git("show", "main:shared.txt").splitlines()) == ["line by conflict-a", "line by conflict-b"]
    returned = [e for e in env.events() if e["event"] == "land_returned"]
    assert len(returned) == 1 and "conflicts with main in: shared.txt" in returned[0]["reason"]
    second = returned[0]["task"]
    prompt = sorted((env.config.state_dir / "runs" / second).glob("*/prompt.md"))[-1].read_text()
    assert "Merge conflict to resolve" in prompt and "could not land the branch" in prompt


def test_a_branch_that_breaks_the_check_never_reaches_main_and_comes_back_with_the_output(env, check):
    queue_config(env, check=check, review="none")
    env.enqueue("broken-thing")
    env.drain(timeout=120)  # lands nothing, sends it back with the output, the agent fixes it, it lands
    assert env.state_of("broken-thing") == "done"
    assert env.git("show", "main:broken-thing.txt") == "fixed\n"
    assert_main_green(env, check)
    returned = [e for e in env.events() if e["event"] == "land_returned"]
    assert len(returned) == 1 and "failed (exit code 1)" in returned[0]["reason"]
    prompt = sorted((env.config.state_dir / "runs" / "broken-thing").glob("*/prompt.md"))[-1].read_text()
    assert "BROKEN in broken-thing.txt" in prompt  # main did not move: nothing to merge into the branch


def test_after_max_land_attempts_it_waits_for_a_person(env, check):
    queue_config(env, check=check, max_land_attempts=1)
    waiting_to_land(env, "bad", {"bad.txt": "BROKEN\n"})
    land_until_idle(env.config, env.queue)
    assert env.state_of("bad") == "incoming"
    env.queue.transition("bad", "incoming", "provisional", actor="test")  # another attempt, still broken
    Orchestrator(env.config_path).accept("bad")
    land_until_idle(env.config, env.queue)
    assert env.state_of("bad") == "blocked"
    status = env.cli("status")
    assert "bad" in status.stdout and "could not land" in status.stdout and "max_land_attempts 1" in status.stdout


def test_the_persons_dirty_checkout_of_main_is_never_touched(env, check):
    queue_config(env, check=check)
    waiting_to_land(env, "a", {"a.txt": "a\n"})
    before = env.git("rev-parse", "main").strip()
    (env.repo / "README.md").write_text("# my edit, not committed\n")
    rounds = land_until_idle(env.config, env.queue)
    assert rounds[-1].waiting and "uncommitted changes to tracked files" in rounds[-1].waiting
    assert env.git("rev-parse", "main").strip() == before and env.state_of("a") == "landing"
    assert (env.repo / "README.md").read_text() == "# my edit, not committed\n"
    assert "merge queue: 1 waiting to land; no lander running" in env.cli("status").stdout
    env.git("checkout", "README.md")
    land_until_idle(env.config, env.queue)
    assert env.state_of("a") == "done" and (env.repo / "a.txt").read_text() == "a\n"  # the checkout came along
    assert env.git("status", "--porcelain", "--untracked-files=no") == ""


def test_rebase_strategy_lands_a_linear_history(env, check):
    queue_config(env, check=check, land_strategy="rebase")
    waiting_to_land(env, "a", {"a.txt": "a\n"})
    waiting_to_land(env, "b", {"b.txt": "b\n"})
    land_until_idle(env.config, env.queue)
    assert env.git("rev-list", "--merges", "main") == ""
    assert env.git("log", "--format=%s", "-2", "main").splitlines() == ["work on b", "work on a"]


def test_landed_commits_and_task_branches_are_pushed(env, check, tmp_path):
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    env.git("remote", "add", "origin", str(remote))
    env.git("push", "-q", "origin", "main")
    queue_config(env, check=check, push="origin")
    waiting_to_land(env, "a", {"a.txt": "a\n"})
    land_until_idle(env.config, env.queue)
    pushed = subprocess.run(["git", "-C", str(remote), "for-each-ref", "--format=%(refname) %(objectname)"],
                            capture_output=True, text=True, check=True).stdout
    assert f"refs/heads/main {env.git('rev-parse', 'main').strip()}" in pushed and "refs/heads/agent/a" in pushed


@pytest.mark.parametrize("point", ["land_before_move", "land_after_move", "land_after_done"])
def test_kill_9_at_each_step_of_landing_recovers(env, check, point):
    queue_config(env, check=check)
    waiting_to_land(env, "a", {"a.txt": "a\n"})
    waiting_to_land(env, "b", {"b.txt": "b\n"})
    crashed = subprocess.run([sys.executable, "-m", "orchestrator", "--config", str(env.config_path), "land"],
                             capture_output=True, text=True, env={**os.environ, "ORCHESTRATOR_CRASH_AT": point})
    assert crashed.returncode == -signal.SIGKILL
    again = env.cli("land")
    assert again.returncode == 0, again.stderr
    assert env.state_of("a") == env.state_of("b") == "done"
    assert {"a.txt", "b.txt"} <= set(env.git("ls-tree", "--name-only", "main").split())
    assert not (env.config.state_dir / "landing" / "progress.json").exists()
    assert len([e for e in env.events() if e["event"] == "landed"]) == 2  # each finished once
    assert_main_green(env, check)


def test_kill_9_during_a_check_stops_it_and_lands_on_the_next_run(env, check):
    queue_config(env, check=[*check, "600"], check_timeout_seconds=900)
    waiting_to_land(env, "a", {"a.txt": "a\n"})
    lander = subprocess.Popen([sys.executable, "-m", "orchestrator", "--config", str(env.config_path), "land"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    slot = env.config.state_dir / "landing" / "slot-0"

    def check_running() -> list[int]:
        out = subprocess.run(["pgrep", "-f", f"{env.root / 'check.py'} 600"], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]
    env.wait_until(lambda: check_running(), what="the check to start")
    os.kill(lander.pid, signal.SIGKILL)  # the lander only: its check lives on, orphaned
    lander.wait(timeout=10)
    assert check_running()
    queue_config(env, check=check)  # a faster check from now on
    Lander(env.config, env.queue).recover()
    env.wait_until(lambda: not check_running(), what="the orphaned check to be stopped")
    land_until_idle(env.config, env.queue)
    assert env.state_of("a") == "done" and slot.exists()


def test_cancelled_while_checked_is_not_landed(env, check):
    queue_config(env, check=check)
    waiting_to_land(env, "a", {"a.txt": "a\n"})
    waiting_to_land(env, "b", {"b.txt": "b\n"})
    orch = Orchestrator(env.config_path)
    cancelled = []

    def cancel_b(result) -> None:  # a person cancels b while the batch's check runs
        if not cancelled:
            cancelled.append(orch.cancel("b"))
    rounds = land_until_idle(env.config, env.queue, on_check=cancel_b)
    assert env.state_of("b") == "failed" and env.state_of("a") == "done"
    assert "b.txt" not in env.git("ls-tree", "--name-only", "main").split()
    assert [t for r in rounds for t in r.landed] == ["a"]


def test_land_cli_and_accept_flags(env, check):
    queue_config(env, check=check)
    waiting_to_land(env, "a", {"a.txt": "a\n"})
    out = env.cli("land")
    assert out.returncode == 0, out.stderr
    assert "landed: a (main at " in out.stdout and "check on" in out.stdout and "passed" in out.stdout
    env.enqueue("b")
    env.queue.transition("b", "incoming", "provisional", actor="test")
    plain = env.cli("accept", "b", "--no-land")
    assert plain.returncode == 0 and env.state_of("b") == "done"
    assert env.cli("land").stdout.strip() == "nothing to land (landing/ is empty)"


def test_the_daemon_starts_the_lander(env, check, daemon):
    queue_config(env, check=check, review="none", tick_seconds=0.5)
    daemon.start()
    env.enqueue("via-daemon")
    env.wait_until(lambda: env.state_of("via-daemon") == "done", timeout=60, what="the task to land")
    assert "via-daemon.txt" in env.git("ls-tree", "--name-only", "main").split()
    assert Path(env.config.state_dir / "landing" / "lander.log").exists()
