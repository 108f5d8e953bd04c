"""A decision happens completely or not at all, and landing never touches a busy checkout.

Issue "Nothing lost to the people and the agents around it", items 1-3: accept racing reject,
merging while the person rebases main, and a kill during accept --merge with the person on main.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from orchestrator.base.locks import FileLock


def provisional(env, task_id: str = "t1") -> None:
    env.write_config([env.agent("impl-1")])
    env.enqueue(task_id)
    env.drain()
    assert env.state_of(task_id) == "provisional"


def repo_lock(env) -> Path:
    common = Path(env.git("rev-parse", "--git-common-dir").strip())
    return (env.repo / common).resolve() / "orchestrator.lock"


def someone_waits_for(lock_file: Path) -> bool:
    """Is a process blocked in flock() on this file? (/proc/locks lists waiters with '->'.)"""
    inode = os.stat(lock_file).st_ino
    with open("/proc/locks") as fh:
        return any("->" in line and line.split()[-3].endswith(f":{inode}") for line in fh)


def cli_process(env, *args: str, **env_extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "orchestrator", "--config", str(env.config_path), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=env.root,
                            env={**os.environ, **env_extra})


def test_accept_racing_reject_says_what_happened(env):
    provisional(env)
    base_before = env.git("rev-parse", "main").strip()
    lock = FileLock(repo_lock(env))
    lock.acquire(timeout=10)  # a runner holding the repository lock: accept --merge must wait for it
    try:
        accept = cli_process(env, "accept", "t1", "--merge")
        env.wait_until(lambda: someone_waits_for(lock.path), what="accept to wait for the repository lock")
        reject = cli_process(env, "reject", "t1", "--reason", "not like this")
        # Give the reject every chance to run first: it either waits for the accept or wins outright.
        env.wait_until(lambda: reject.poll() is not None or someone_waits_for(
            env.config.state_dir / "locks" / "tasks" / "t1.lock"), what="the reject to decide or wait")
    finally:
        lock.release()
    accept_out, accept_err = accept.communicate(timeout=60)
    reject_out, reject_err = reject.communicate(timeout=60)
    merged = env.git("rev-parse", "main").strip() != base_before
    state = env.state_of("t1")
    if accept.returncode == 0:
        assert "done" in accept_out and state == "done" and merged, (accept_out, accept_err, state)
        assert reject.returncode != 0 and "not rejected" in reject_err
    else:
        assert state == "incoming" and not merged and reject.returncode == 0, (accept_err, reject_out)
        assert "nothing was merged" in accept_err


def rebase_stopped(env) -> None:
    """The person is in the middle of `git rebase -i` of main, stopped at an 'edit'."""
    (env.repo / "notes.txt").write_text("a\n")
    env.git("add", "notes.txt")
    env.git("commit", "-q", "-m", "a second commit on main")
    editor = "sed -i '1s/^pick/edit/'"
    subprocess.run(["git", "-C", str(env.repo), "rebase", "-i", "HEAD~1"], check=True, capture_output=True,
                   env={**os.environ, "GIT_SEQUENCE_EDITOR": editor})
    assert (env.repo / ".git" / "rebase-merge").is_dir()  # stopped: main is checked out nowhere now


def test_merge_refused_while_the_person_rebases_main(env):
    provisional(env)
    rebase_stopped(env)
    main_before = env.git("rev-parse", "refs/heads/main").strip()
    out = env.cli("accept", "t1", "--merge")
    assert out.returncode == 1 and "is being rebased" in out.stderr and "nothing was changed" in out.stderr
    assert env.git("rev-parse", "refs/heads/main").strip() == main_before
    assert env.state_of("t1") == "provisional"
    subprocess.run(["git", "-C", str(env.repo), "rebase", "--continue"], check=True, capture_output=True,
                   env={**os.environ, "GIT_EDITOR": "true"})
    assert env.git("rev-parse", "refs/heads/main").strip() == main_before  # the rebase finished as it would have
    out = env.cli("accept", "t1", "--merge")
    assert out.returncode == 0, out.stderr
    assert env.state_of("t1") == "done" and "t1-1.txt" in env.git("ls-tree", "--name-only", "main")


def test_kill_during_accept_merge_leaves_no_half_merge_and_a_rerun_finishes(env):
    provisional(env)
    (env.repo / "README.md").write_text("# test repo\nmain moved on\n")  # not a fast-forward: a merge commit
    env.git("commit", "-q", "-am", "main moves on")
    killed = cli_process(env, "accept", "t1", "--merge", ORCHESTRATOR_CRASH_AT="accept_after_merge")
    killed.communicate(timeout=60)
    assert killed.returncode == -9
    git_dir = env.repo / ".git"
    assert not (git_dir / "MERGE_HEAD").exists() and not (git_dir / "index.lock").exists()
    assert env.git("status", "--porcelain").strip() == ""  # the person's checkout is consistent
    assert env.state_of("t1") == "provisional"
    out = env.cli("accept", "t1", "--merge")
    assert out.returncode == 0 and "already merged" in out.stdout, out.stderr
    assert env.state_of("t1") == "done"
    assert "t1-1.txt" in env.git("ls-tree", "--name-only", "main")
    assert env.git("status", "--porcelain").strip() == ""


def test_stale_index_lock_in_the_persons_checkout_is_left_alone(env):
    provisional(env)
    lock = env.repo / ".git" / "index.lock"
    lock.write_text("")
    main_before = env.git("rev-parse", "main").strip()
    out = env.cli("accept", "t1", "--merge")
    assert out.returncode == 1 and "index.lock" in out.stderr and "nothing was changed" in out.stderr
    assert env.git("rev-parse", "main").strip() == main_before and env.state_of("t1") == "provisional"
    assert not (env.repo / ".git" / "MERGE_HEAD").exists()
    lock.unlink()
    assert env.cli("accept", "t1", "--merge").returncode == 0


def test_merge_into_main_checked_out_nowhere_moves_the_ref_by_compare_and_swap(env):
    provisional(env)
    env.git("checkout", "-q", "-b", "elsewhere")
    out = env.cli("accept", "t1", "--merge")
    assert out.returncode == 0 and "fast-forward" in out.stdout, out.stderr
    assert "t1-1.txt" in env.git("ls-tree", "--name-only", "main")
    assert env.git("symbolic-ref", "--short", "HEAD").strip() == "elsewhere"  # the person's checkout untouched
