"""Task worktrees: made (fresh, from the pool, or sparse), and removed only when no work is lost.

Every change to git's worktree bookkeeping happens under the repository's metadata lock;
writing and deleting the files themselves happens outside it, so parallel runners do not
wait on each other's checkouts.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from orchestrator.base import log
from orchestrator.base.errors import GitError
from orchestrator.git import files, pool
from orchestrator.git.repo import MOVED_ASIDE_PREFIX, Repo

_log = log.get("orchestrator.worktrees")


def prepare_worktree(repo: Repo, path: Path, branch: str, base: str, *, pool_dir: Path | None = None,
                     sparse_paths: tuple[str, ...] = (), review_dir: Path | None = None) -> bool:
    """Make path a worktree on branch (created from base when new). True if it was reused.

    An existing worktree of this branch at this path is reused as it is: it may hold
    the uncommitted work of an earlier attempt, which we never throw away. A new one comes
    from the pool when there is one, else as a sparse checkout when asked, else from
    `git worktree add`. A person's review worktree (under review_dir) that has the branch
    checked out is detached at the same commit first: git allows a branch in one worktree only.
    """
    with repo.metadata_lock():
        registered = repo.linked_worktrees()
        if path in registered and path.is_dir():
            if registered[path] != branch:
                raise GitError(["git", "worktree", "add", str(path)], None, "",
                               why=f"{path} is a worktree of '{registered[path]}', not '{branch}'")
            return True
        if review_dir is not None:
            _detach_review_worktrees(repo, registered, branch, review_dir)
        if any(not p.exists() for p in registered):
            repo.git("worktree", "prune")  # a registration whose directory is gone would refuse the add
        path.parent.mkdir(parents=True, exist_ok=True)
        if sparse_paths:
            pool.add_sparse(repo, path, branch, base, sparse_paths)
            return False
        if pool_dir is not None and pool.take_slot(repo, pool_dir, path, branch, base):
            return False
        # Only the registration needs the lock; writing the files happens below, outside it.
        if repo.branch_exists(branch):
            repo.git("worktree", "add", "--no-checkout", str(path), branch)
        else:
            repo.git("worktree", "add", "--no-checkout", "-b", branch, str(path), base)
    repo.git("reset", "--hard", "--quiet", cwd=path)  # this worktree's own index and files
    return False

def _detach_review_worktrees(repo: Repo, registered: dict[Path, str | None], branch: str, review_dir: Path) -> None:
    """Let go of branch in the review worktrees that have it: detached at the commit they are on,
    every file (and uncommitted change) stays as it is, and the branch is free for the agent."""
    for held, name in registered.items():
        if name == branch and review_dir in held.parents and held.is_dir():
            repo.git("checkout", "--quiet", "--detach", cwd=held)
            registered[held] = None


@dataclass(frozen=True)
class ReviewWorktree:
    path: Path
    detached: bool  # at the branch's tip instead of on the branch
    created: bool  # False: it was there already (a second checkout)
    held_by: Path | None = None  # the worktree that has the branch, when that is why it is detached


def add_review_worktree(repo: Repo, path: Path, branch: str, *, detach: bool) -> ReviewWorktree:
    """A worktree at path on branch for a person to look at and run; detached at the branch's
    tip when asked or when another worktree has the branch. One that is there already is
    returned as it is: it may hold the person's own changes."""
    with repo.metadata_lock():
        registered = repo.worktrees()
        if path in registered and path.is_dir():
            if registered[path] is None and not detach and _reattach(repo, registered, path, branch):
                registered[path] = branch
            return ReviewWorktree(path, registered[path] is None, created=False)
        if path.exists():
            raise GitError(["git", "worktree", "add", str(path)], None, "",
                           why=f"{path} exists but is not a registered worktree; move it away, then check out again")
        if any(not p.exists() for p in registered):
            repo.git("worktree", "prune")  # a registration whose directory is gone would refuse the add
        tip = repo.branch_commit(branch)
        if tip is None:
            raise GitError(["git", "worktree", "add", str(path), branch], None, "", why=f"no branch '{branch}'")
        held_by = next((p for p, b in registered.items() if b == branch and p.exists()), None)
        path.parent.mkdir(parents=True, exist_ok=True)
        if detach or held_by is not None:
            repo.git("worktree", "add", "--quiet", "--detach", str(path), tip)
            return ReviewWorktree(path, True, created=True, held_by=held_by)
        repo.git("worktree", "add", "--quiet", str(path), branch)
        return ReviewWorktree(path, False, created=True)


def _reattach(repo: Repo, registered: dict[Path, str | None], path: Path, branch: str) -> bool:
    """Put a detached review worktree back on branch when nothing there can be lost or overwritten:
    no other worktree has the branch, and the worktree is at its tip (any changes stay) or clean at
    an older commit of it (an agent added commits since it was detached)."""
    if any(b == branch for b in registered.values()):
        return False
    head, tip = repo.git("rev-parse", "HEAD", cwd=path).strip(), repo.branch_commit(branch)
    if tip is None or not (head == tip or (repo.is_ancestor(head, tip) and not repo.is_dirty(path))):
        return False
    repo.git("checkout", "--quiet", branch, cwd=path)
    return True


def removal_problem(repo: Repo, path: Path) -> str | None:
    """Why remove_worktree would keep the worktree at path (what prune --dry-run says), or None."""
    if not path.exists():
        return None
    registered = repo.worktrees()
    if path not in registered:
        return f"{path} exists but is not a registered worktree; left alone"
    if repo.is_dirty(path):
        return f"worktree {path} has uncommitted changes; kept"
    head = repo.git("rev-parse", "HEAD", cwd=path).strip()
    if registered[path] is None and not repo.git("branch", "--contains", head).strip():
        return f"worktree {path} has commits on no branch; kept"
    return None


def prune_worktrees(repo: Repo) -> None:
    """Forget registrations of worktrees whose directories are gone."""
    with repo.metadata_lock():
        repo.git("worktree", "prune")


def remove_worktree(repo: Repo, path: Path, branch: str, *, pool_dir: Path | None = None, pool_size: int = 0,
                    base: str = "", delete_files: bool = True, checked_clean: bool = False,
                    ignoring: tuple[str, ...] = ()) -> str | None:
    """Remove a task's worktree unless that would lose work (or pool it); return why it was kept, or None.

    The directory is moved aside and unregistered under the lock; its files are deleted
    outside it, at once or (delete_files=False) later by delete_moved_aside(), so that a
    runner can hand its task on first. The sweep deletes whatever a crash left moved aside.
    ignoring: paths that are no work (what agent tools write for themselves), deleted with the tree.
    checked_clean: the caller has just seen it clean (its auto-commit) with nothing running
    there since, so the status check is skipped: on a tree checked out within the same
    second it re-reads every file (git's racy-timestamp rule), ~40 ms on 5,000 files.
    """
    # The agent is gone and the task is ours: nothing changes this worktree while we look,
    # so its (slow, whole-tree) status check need not hold up other runners at the lock.
    if not checked_clean and (path / ".git").is_file() and repo.is_dirty(path, ignoring=ignoring):
        return f"worktree {path} has uncommitted changes; kept"
    with repo.metadata_lock():
        if not path.exists():
            repo.git("worktree", "prune")
            return None
        registered = repo.linked_worktrees()
        if path not in registered:
            return f"{path} exists but is not a registered worktree; left alone"
        if registered[path] != branch:
            head = repo.git("rev-parse", "HEAD", cwd=path).strip()
            if not repo.git("branch", "--contains", head).strip():
                return f"worktree {path} has commits on no branch; kept"
        if pool_dir is not None and not _sparse(repo, path) and pool.give_back(repo, pool_dir, path, base, pool_size):
            return None
        registration = files.registration(repo.common_dir, path)  # read before the move: its .git names it
        os.rename(path, moved_aside(path))
        _unregister(repo, registration)
    if delete_files:
        delete_moved_aside(path)
    return None


def _unregister(repo: Repo, registration: Path | None) -> None:
    """Forget a worktree whose directory was just moved aside: its registration deleted as `git
    worktree prune` would delete it (a git process saved per attempt), else by prune itself."""
    if registration is not None:
        try:
            shutil.rmtree(registration)
            return
        except OSError as exc:
            _log.warning("worktree_unregister_failed", path=str(registration), error=str(exc), fallback="git prune")
    repo.git("worktree", "prune")


def _sparse(repo: Repo, path: Path) -> bool:
    """A sparse checkout (never pooled: a slot must hold the whole tree)."""
    return repo.git("config", "--worktree", "--get", "core.sparseCheckout", cwd=path, check=False).strip() == "true"


def moved_aside(path: Path) -> Path:
    """Where remove_worktree moves a worktree before deleting its files (one name per process)."""
    return path.parent / f"{MOVED_ASIDE_PREFIX}{path.name}-{os.getpid()}"


def delete_moved_aside(path: Path) -> None:
    """Delete the files of the worktree at path that this process's remove_worktree moved aside."""
    shutil.rmtree(moved_aside(path), ignore_errors=True)
