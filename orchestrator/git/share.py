"""Task branches shared through a remote, for several machines on one queue (issue 18).

With `push: REMOTE`, an attempt starts from the remote's copy of its task branch when that one
is ahead (another machine ran an earlier attempt), and its branch is pushed when it ends, so
whoever reviews or lands it, on any machine, fetches it from there. A local branch with commits
the remote lacks is never moved back; a push is a fast-forward or nothing (a branch that went
apart from the remote's is refused and said, never forced).
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.base import commands
from orchestrator.base.errors import GitError
from orchestrator.git.repo import Repo, clean_env

NETWORK_TIMEOUT = 300


def _tracking(remote: str, branch: str) -> str:
    return f"refs/remotes/{remote}/{branch}"


def fetch_ref(repo: Repo, remote: str, branch: str) -> str | None:
    """The remote's tip of branch, fetched into refs/remotes/REMOTE/BRANCH; None when the remote
    has no such branch. Raises GitError when the remote cannot be read."""
    done = commands.run(["git", "fetch", "--quiet", "--no-tags", remote, f"+refs/heads/{branch}:{_tracking(remote, branch)}"],
                        cwd=repo.path, env=clean_env(), check=False, error=GitError, timeout=NETWORK_TIMEOUT)
    if done.returncode != 0:
        said = (done.stdout + done.stderr).strip()
        if "couldn't find remote ref" in said:
            return None  # never pushed: the first attempt, or this branch is new
        raise GitError(["git", "fetch", remote, branch], done.returncode, said, why=f"cannot fetch '{branch}' from {remote}")
    return repo.git("rev-parse", "--verify", _tracking(remote, branch)).strip()


def fetch_task_branch(repo: Repo, remote: str, branch: str, worktree: Path | None = None) -> str | None:
    """Bring the remote's copy of branch here: create the local branch from it, or fast-forward the
    local one (in its worktree, when it has one) when it is behind. Returns the remote's tip (None
    when the remote has no such branch). Raises GitError when the remote cannot be read."""
    tip = fetch_ref(repo, remote, branch)
    if tip is None:
        return None
    local = repo.branch_commit(branch)
    if local is None:
        repo.git("branch", branch, tip)
    elif local != tip and repo.is_ancestor(local, tip):
        checked_out = worktree is not None and repo.linked_worktrees().get(worktree) == branch
        if checked_out:
            repo.git("merge", "--ff-only", "--quiet", tip, cwd=worktree)
        else:
            repo.git("update-ref", f"refs/heads/{branch}", tip, local)
    return tip


def push_task_branch(repo: Repo, remote: str, branch: str) -> str | None:
    """Push branch to remote as a fast-forward only: a branch that went apart from the remote's
    (an agent rewrote it, or an earlier push failed and another machine pushed since) is refused,
    never forced over commits that exist only there. None when it worked, else git's own words."""
    done = commands.run(["git", "push", "--quiet", remote, f"refs/heads/{branch}:refs/heads/{branch}"],
                        cwd=repo.path, env=clean_env(), check=False, error=GitError, timeout=NETWORK_TIMEOUT)
    return None if done.returncode == 0 else (done.stdout + done.stderr).strip()
