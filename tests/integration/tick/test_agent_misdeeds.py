"""Nothing an agent does in or from its worktree reaches the base branch except through review, and
nothing it leaves for us to read can hang or exhaust the runner.

Issue "Nothing lost to the people and the agents around it", items 5 and 6.
"""

from __future__ import annotations

import sys

import pytest


def agent_script(env, name: str, source: str) -> dict:
    path = env.agents_dir / name
    path.write_text(source)
    return {"name": "impl-1", "command": [sys.executable, str(path)]}


COMMIT_THEN = """
import os, pathlib, subprocess
def git(*a): subprocess.run(["git", *a], check=True, capture_output=True)
pathlib.Path(os.environ["ORCH_TASK_ID"] + ".txt").write_text("work\\n")
git("add", "-A"); git("commit", "-q", "-m", "the agent's work")
"""


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "sparse"])
def test_the_agents_result_file_is_read_with_a_limit_and_without_blocking(env, kind):
    make = {
        "dev-zero": "os.symlink('/dev/zero', result)",
        "fifo": "os.mkfifo(result)",
        "sparse": "f = open(result, 'wb'); f.truncate(1 << 30); f.close()",
    }[kind]
    env.write_config([agent_script(env, "weird_result.py", COMMIT_THEN + f"""
result = os.environ["ORCH_RESULT_FILE"]
{make}
""")], max_attempts=1)
    env.enqueue("t1")
    env.drain(timeout=60)  # before: /dev/zero grew the runner without end, a FIFO blocked it for ever
    assert env.state_of("t1") == "provisional"


def test_an_agent_that_checks_out_main_gets_nothing_committed_onto_main(env):
    env.git("checkout", "-q", "-b", "person-works-here")  # main is checked out nowhere: the agent can take it
    env.write_config([agent_script(env, "to_main.py", """
import os, pathlib, subprocess
subprocess.run(["git", "checkout", "-q", "main"], check=True)
pathlib.Path(os.environ["ORCH_TASK_ID"] + ".txt").write_text("left uncommitted on main\\n")
""")], max_attempts=1)
    main_before = env.git("rev-parse", "main").strip()
    env.enqueue("t1")
    env.drain(timeout=60)
    assert env.git("rev-parse", "main").strip() == main_before  # before: auto-commit put the file on main
    assert env.state_of("t1") == "provisional"
    assert "t1.txt" in env.git("ls-tree", "--name-only", "agent/t1")
    assert "switched back" in env.cli("show", "t1").stdout


def test_an_agent_that_moves_main_from_its_worktree_is_undone_and_its_commits_kept(env):
    env.write_config([agent_script(env, "push_main.py", COMMIT_THEN + """
git("update-ref", "refs/heads/main", "HEAD")
""")], max_attempts=1)
    main_before = env.git("rev-parse", "main").strip()
    env.enqueue("t1")
    env.drain(timeout=60)
    assert env.git("rev-parse", "main").strip() == main_before
    assert env.state_of("t1") == "failed"
    task = env.read("t1")
    assert "main was put back" in task.last_error
    kept = env.git("for-each-ref", "--format=%(refname)", "refs/orchestrator/kept/t1/").split()
    assert kept and "t1.txt" in env.git("ls-tree", "--name-only", kept[0])


def test_the_persons_own_commit_on_main_during_an_attempt_is_left_alone(env):
    (env.agents_dir / "go").write_text("")
    env.write_config([agent_script(env, "slowish.py", f"""
import os, pathlib, time
while not pathlib.Path({str(env.agents_dir / "go")!r} + ".now").exists():
    time.sleep(0.05)
""" + COMMIT_THEN)], max_attempts=1)
    env.enqueue("t1")
    from orchestrator.tick.scheduler import Scheduler
    Scheduler(env.config).tick()
    env.wait_until(lambda: (env.config.state_dir / "runs" / "t1" / "1" / "agent.json").exists(), what="the agent")
    (env.repo / "mine.txt").write_text("the person's work\n")
    env.git("add", "mine.txt")
    env.git("commit", "-q", "-m", "the person's commit")
    mine = env.git("rev-parse", "main").strip()
    (env.agents_dir / "go.now").write_text("")
    env.wait_until(lambda: env.state_of("t1") != "claimed", timeout=60, what="the attempt to end")
    assert env.git("rev-parse", "main").strip() == mine
    assert env.state_of("t1") == "provisional"


def test_a_rewritten_branch_keeps_the_earlier_attempts_commits(env):
    env.write_config([agent_script(env, "rewrite.py", """
import os, pathlib, subprocess
def git(*a): subprocess.run(["git", *a], check=True, capture_output=True)
attempt = os.environ["ORCH_ATTEMPT"]
if attempt != "1":
    git("reset", "--hard", "main")  # drops attempt 1's commit from the branch
pathlib.Path("work-" + attempt + ".txt").write_text("attempt " + attempt + "\\n")
git("add", "-A"); git("commit", "-q", "-m", "attempt " + attempt)
""")])
    env.enqueue("t1")
    env.drain(timeout=60)
    first = env.git("rev-parse", "agent/t1").strip()
    assert env.cli("reject", "t1", "--reason", "again").returncode == 0
    env.drain(timeout=60)
    assert env.state_of("t1") == "provisional"
    kept = env.git("for-each-ref", "--format=%(objectname)", "refs/orchestrator/kept/t1/").split()
    assert first in kept
    assert "dropping commits of earlier attempts" in env.cli("show", "t1").stdout
