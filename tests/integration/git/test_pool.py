"""The worktree pool and sparse checkouts: faster worktrees with the same safety."""

from __future__ import annotations

from orchestrator.git.pool import slots, take_slot
from orchestrator.git.repo import Repo


def test_a_pooled_worktree_is_reused_clean_and_on_the_right_branch(env):
    env.write_config([env.agent("impl-1")], worktree_pool=2)
    env.enqueue("t1")
    env.drain()
    pool = env.config.state_dir / "pool"
    assert [p.name for p in slots(pool)] == ["slot-0"]  # t1's clean worktree went into the pool
    assert Repo(env.repo).worktrees()[pool / "slot-0"] is None  # detached, at the base
    env.enqueue("t2")
    env.drain()
    assert env.state_of("t2") == "provisional"
    files = env.git("ls-tree", "--name-only", "agent/t2").split()
    assert "t2-1.txt" in files and "t1-1.txt" not in files  # t1's work did not travel with the slot
    assert [p.name for p in slots(pool)] == ["slot-0"]


def test_a_dirty_slot_is_never_handed_out(env):
    env.write_config([env.agent("impl-1")], worktree_pool=1)
    env.enqueue("t1")
    env.drain()
    slot = env.config.state_dir / "pool" / "slot-0"
    (slot / "left-behind.txt").write_text("someone's uncommitted work")
    env.enqueue("t2")
    env.drain()
    assert env.state_of("t2") == "provisional"
    assert (slot / "left-behind.txt").read_text() == "someone's uncommitted work"  # untouched
    r = Repo(env.repo)
    with r.metadata_lock():
        assert take_slot(r, env.config.state_dir / "pool", env.root / "wt", "agent/x", "main") is False


def test_sparse_paths_check_out_only_what_the_task_needs(env, agents_dir):
    (env.repo / "src").mkdir()
    (env.repo / "src" / "app.py").write_text("print('app')\n")
    (env.repo / "docs").mkdir()
    (env.repo / "docs" / "big.md").write_text("lots of docs\n")
    env.git("add", "-A")
    env.git("commit", "-qm", "layout")
    (agents_dir / "look.py").write_text(
        "import os, pathlib\nassert pathlib.Path('src/app.py').exists()\nassert not pathlib.Path('docs').exists()\n"
        "pathlib.Path('src/new.py').write_text('x')\n")
    env.write_config([env.agent("impl-1", "look.py")], max_attempts=1)
    env.enqueue("t1", sparse_paths=("src",))
    env.drain()
    assert env.state_of("t1") == "provisional", env.read("t1").last_error
    assert "src/new.py" in env.git("ls-tree", "-r", "--name-only", "agent/t1").split()
    assert "docs/big.md" in env.git("ls-tree", "-r", "--name-only", "agent/t1").split()  # untouched, not deleted
