"""What an agent may not do to the repository from its worktree, checked after every attempt.

An agent runs with full rights in its worktree, and git lets a worktree reach every branch: it can
`git checkout main` there (when main is checked out nowhere else), commit onto main, `git push . HEAD:main`,
or force-rewrite its own branch and drop an earlier attempt's commits. None of that may reach the
base branch or lose work without review, so the runner snapshots the refs before the agent and checks
them after it:

- the worktree is back on the task branch before anything is auto-committed (carrying the agent's
  uncommitted changes along; if git cannot, nothing is committed and the worktree is kept);
- commits the agent put on the base branch (recognised because they are in the worktree's own HEAD
  reflog: the person's commits on main never are) are taken off it again by compare-and-swap, and kept
  under refs/orchestrator/ so nothing is lost;
- a task branch rewritten so that an earlier attempt's commits are no longer on it has them kept
  under refs/orchestrator/ too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestrator.base.errors import GitError
from orchestrator.git.repo import Repo

KEEP_PREFIX = "refs/orchestrator/kept"


@dataclass(frozen=True)
class Heads:
    """The task branch's and the base branch's commits when the agent started, and the commits the
    worktree's HEAD had already visited (a pooled worktree remembers earlier tasks' commits)."""

    branch: str | None
    base: str | None
    visited: frozenset[str] = frozenset()


def snapshot(repo: Repo, branch: str, base: str, worktree: Path) -> Heads:
    return Heads(_commit(repo, branch), _commit(repo, base), frozenset(_visited(repo, worktree)))


def _visited(repo: Repo, worktree: Path) -> list[str]:
    return repo.head_reflog(worktree)


def back_on_branch(repo: Repo, worktree: Path, branch: str) -> str | None:
    """Put the worktree back on its task branch; None when it is (or now is), else why not."""
    current = repo.head_ref(worktree)
    if current == f"refs/heads/{branch}":
        return None
    where = current.removeprefix("refs/heads/") or "a detached HEAD"
    try:
        repo.git("checkout", "--quiet", branch, cwd=worktree)  # carries uncommitted changes, or refuses
    except GitError as exc:
        return f"the agent left its worktree on {where} instead of {branch}, and switching back failed: {exc}"
    return f"the agent had switched its worktree to {where}; it was switched back to {branch}"


def take_back_base(repo: Repo, worktree: Path, base: str, start: Heads, task_id: str, attempt: int) -> str | None:
    """Undo commits the agent made on the base branch; None when it made none, else what was done."""
    now = _commit(repo, base)
    if now is None or now == start.base or start.base is None:
        return None
    own = set(_visited(repo, worktree)) - start.visited  # where the agent's HEAD went during this attempt
    if now not in own:
        return None  # moved by somebody else (the person, a landing): not the agent's doing
    kept = f"{KEEP_PREFIX}/{task_id}/{attempt}/base"
    repo.git("update-ref", kept, now)
    try:
        repo.git("update-ref", "-m", "orchestrator: undo an agent's commit on the base branch",
                 f"refs/heads/{base}", start.base, now)
    except GitError:
        return (f"the agent moved {base} to {now[:12]} and it moved again since, so it was left there; "
                f"the agent's commit is kept at {kept}: review {base}")
    return (f"the agent moved {base} to {now[:12]} from its worktree; {base} was put back to {start.base[:12]} "
            f"and the agent's commits are kept at {kept}")


def keep_rewritten(repo: Repo, branch: str, start: Heads, task_id: str, attempt: int) -> str | None:
    """Keep an earlier attempt's commits that the agent dropped from its branch; None when none were."""
    if start.branch is None or start.branch == start.base:
        return None
    now = _commit(repo, branch)
    if now is not None and repo.ok("merge-base", "--is-ancestor", start.branch, now):
        return None
    kept = f"{KEEP_PREFIX}/{task_id}/{attempt}/branch-before"
    repo.git("update-ref", kept, start.branch)
    return f"the agent rewrote {branch}, dropping commits of earlier attempts; they are kept at {kept}"


def _commit(repo: Repo, branch: str) -> str | None:
    return repo.branch_commit(branch)
