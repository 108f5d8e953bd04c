"""Ready-made worktrees for large repositories: a pool of prepared checkouts, and sparse checkouts.

`worktree_pool: N` keeps up to N clean worktrees in <state_dir>/pool/. A task that needs a new
worktree takes a slot instead of running `git worktree add`: the slot is moved to the task's
worktree path (`git worktree move`), switched to the task's branch (`git checkout` touches only
the files that differ), cleaned of untracked files, and verified clean and on the right commit
before the agent sees it. When the task leaves claimed/, a clean worktree goes back into the pool
(detached at its base); a dirty one is never pooled: it stays with its task, as without a pool.
Files git ignores (build caches, dependencies) stay in the slot: that is what makes reuse fast.

`sparse_paths` on a task makes its worktree a cone-mode sparse checkout of just those paths.
"""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.base.errors import GitError
from orchestrator.git.repo import Repo


def slots(pool_dir: Path) -> list[Path]:
    try:
        return sorted(pool_dir / n for n in os.listdir(pool_dir) if n.startswith("slot-"))
    except FileNotFoundError:
        return []


def take_slot(repo: Repo, pool_dir: Path, path: Path, branch: str, base: str) -> bool:
    """Turn a pooled worktree into path on branch; False when the pool has nothing to give.

    Called with the repository's metadata lock held.
    """
    registered = repo.linked_worktrees()
    for slot in slots(pool_dir):
        if slot not in registered or repo.is_dirty(slot):
            continue  # never hand out a slot that is not a clean, registered worktree
        path.parent.mkdir(parents=True, exist_ok=True)
        repo.git("worktree", "move", str(slot), str(path))
        if repo.branch_exists(branch):
            repo.git("checkout", "--quiet", branch, cwd=path)
        else:
            repo.git("checkout", "--quiet", "-b", branch, base, cwd=path)
        repo.git("clean", "-fd", "--quiet", cwd=path)
        expected = repo.head_commit(branch)
        if repo.is_dirty(path) or repo.git("rev-parse", "HEAD", cwd=path).strip() != expected:
            raise GitError(["git", "checkout", branch], None, "",
                           why=f"pooled worktree {path} is not clean on {branch} after the switch; not used")
        return True
    return False


def give_back(repo: Repo, pool_dir: Path, path: Path, base: str, size: int) -> bool:
    """Return a clean worktree to the pool (detached at base); False when it was not pooled.

    Called with the repository's metadata lock held, after the caller checked it is clean and
    its commits are on a branch.
    """
    existing = slots(pool_dir)
    if size <= 0 or len(existing) >= size or repo.is_dirty(path):
        return False
    pool_dir.mkdir(parents=True, exist_ok=True)
    taken = {p.name for p in existing}
    slot = next(pool_dir / f"slot-{n}" for n in range(size + 1) if f"slot-{n}" not in taken)
    repo.git("checkout", "--quiet", "--detach", base, cwd=path)
    repo.git("worktree", "move", str(path), str(slot))
    return True


def add_sparse(repo: Repo, path: Path, branch: str, base: str, sparse_paths: tuple[str, ...]) -> None:
    """A new worktree with only sparse_paths checked out (cone mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if repo.branch_exists(branch):
        repo.git("worktree", "add", "--no-checkout", str(path), branch)
    else:
        repo.git("worktree", "add", "--no-checkout", "-b", branch, str(path), base)
    repo.git("sparse-checkout", "set", "--cone", *sparse_paths, cwd=path)
    repo.git("checkout", "--quiet", cwd=path)
