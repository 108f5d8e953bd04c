"""diff ID, checkout ID and prune as a reviewer types them, after real attempts (issue 16, item 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def provisional(env, task_id: str = "t1", **settings) -> None:
    env.write_config([env.agent("impl-1")], **settings)
    env.enqueue(task_id)
    env.drain()
    assert env.state_of(task_id) == "provisional"


def ok(out: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert out.returncode == 0, (out.stdout, out.stderr)
    return out


def test_review_in_place_then_accept_and_prune(env):
    provisional(env)
    (env.repo / "later.txt").write_text("main moved on\n")
    env.git("add", "later.txt")
    env.git("commit", "-q", "-m", "main moves after the task's branch left it")

    diff = ok(env.cli("diff", "t1"))
    assert "+++ b/t1-1.txt" in diff.stdout and "later.txt" not in diff.stdout and "\x1b[" not in diff.stdout
    stat = ok(env.cli("diff", "t1", "--stat"))
    assert "t1-1.txt |" in stat.stdout and "1 file changed" in stat.stdout and "+++ b/" not in stat.stdout

    review = env.config.state_dir / "review" / "t1"
    out = ok(env.cli("checkout", "t1"))
    assert out.stdout == f"{review}\n" and out.stderr == ""  # the path and nothing else: cd "$(... checkout t1)"
    script = (f'cd "$({sys.executable} -m orchestrator --config {env.config_path} checkout t1)" && '
              f'{sys.executable} -c "import pathlib; print(pathlib.Path(\'t1-1.txt\').read_text().splitlines()[0])"')
    ran = subprocess.run(["sh", "-c", script], capture_output=True, text=True, cwd=env.root, timeout=60)
    assert ran.returncode == 0 and ran.stdout.strip(), ran.stderr  # the agent's file, read where it ran
    assert ok(env.cli("checkout", "t1")).stdout == f"{review}\n"
    assert f"checkout:  {review}" in ok(env.cli("show", "t1")).stdout

    accepted = ok(env.cli("accept", "t1", "--merge"))
    assert accepted.stderr == "" and not review.exists()
    pruned = ok(env.cli("prune"))
    assert f"deleted branch agent/t1 (was {env.git('rev-parse', 'main^2')[:12]})" in pruned.stdout
    assert "agent/t1" not in env.git("branch", "--list")
    assert "branch_pruned" in ok(env.cli("history", "t1")).stdout


def test_prune_takes_the_empty_branches_failed_tasks_leave(env):
    env.write_config([env.agent("impl-1", "fail.py")], max_attempts=1)
    env.enqueue("f1")
    env.drain()
    assert env.state_of("f1") == "failed" and "agent/f1" in env.git("branch", "--list")
    env.enqueue("waiting")  # never ran: no branch, nothing to say about it

    dry = ok(env.cli("prune", "--dry-run"))
    assert "would delete branch agent/f1" in dry.stdout and "--dry-run: nothing was changed" in dry.stdout
    assert "agent/f1" in env.git("branch", "--list")
    report = json.loads(ok(env.cli("prune", "--json")).stdout)
    assert [(i["kind"], i["name"], i["task_id"]) for i in report["deleted"]] == [("branch", "agent/f1", "f1")]
    assert report["kept"] == [] and report["dry_run"] is False
    assert "agent/f1" not in env.git("branch", "--list")


def test_diff_on_a_terminal_goes_through_the_persons_pager_in_colour(env):
    provisional(env)
    paged = env.root / "paged.txt"
    controller, terminal = os.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "orchestrator", "--config", str(env.config_path), "diff", "t1"],
                              stdin=terminal, stdout=terminal, stderr=terminal, cwd=env.root, timeout=60,
                              env={**os.environ, "GIT_PAGER": f"cat > {paged}", "TERM": "xterm"})
    finally:
        os.close(terminal)
        os.close(controller)
    assert proc.returncode == 0
    text = paged.read_text()
    assert "t1-1.txt" in text and "\x1b[" in text  # git's own colours, as it pages for a terminal

    paged.unlink()
    piped = subprocess.run([sys.executable, "-m", "orchestrator", "--config", str(env.config_path), "diff", "t1"],
                           capture_output=True, text=True, cwd=env.root, timeout=60,
                           env={**os.environ, "GIT_PAGER": f"cat > {paged}"})
    assert "t1-1.txt" in piped.stdout and not paged.exists()  # piped: plain text, no pager


def test_a_rejected_task_runs_again_beside_the_reviewers_unfinished_checkout(env):
    provisional(env)
    review = env.config.state_dir / "review" / "t1"
    ok(env.cli("checkout", "t1"))
    (review / "notes.txt").write_text("what I was trying\n")
    rejected = ok(env.cli("reject", "t1", "--reason", "handle the empty case"))
    assert f"note: review worktree {review} has uncommitted changes; kept" in rejected.stderr
    env.drain()  # attempt 2 needs the branch the checkout has: the runner detaches the checkout
    assert env.state_of("t1") == "provisional"
    assert [r["outcome"] for r in env.events("t1") if r.get("event") == "succeeded"] == ["success", "success"]
    assert (review / "notes.txt").read_text() == "what I was trying\n"
    again = ok(env.cli("checkout", "t1"))
    assert again.stdout == f"{review}\n" and "is detached (not on 'agent/t1'" in again.stderr
