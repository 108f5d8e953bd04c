"""Task branches: listing them, and deleting one only when no commit is lost with it.

A branch is deleted only when its tip is an ancestor of the base branch: then every commit on it
is on the base as well (merged, or it never had a commit of its own: a task that failed or was
cancelled before its agent committed), and deleting it loses nothing. A branch checked out in a
worktree is never deleted (git would leave that worktree on a branch that does not exist). The
check and the deletion happen under the repository's metadata lock, and the deletion is a
compare-and-swap (`update-ref -d REF OLD`): a branch that moved since we looked is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestrator.git.repo import Repo


def task_branches(repo: Repo, prefix: str) -> dict[str, str]:
    """Branches whose name starts with prefix -> the commit each points at."""
    # Every branch, filtered here: a for-each-ref pattern matches whole path components only, so
    # "refs/heads/agent-" would miss agent-t1.
    out = repo.git("for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/")
    found = {}
    for line in out.splitlines():
        sha, _, ref = line.partition(" ")
        name = ref.removeprefix("refs/heads/")
        if name.startswith(prefix):
            found[name] = sha
    return found


@dataclass(frozen=True)
class BranchVerdict:
    branch: str
    commit: str | None  # where it pointed when we looked
    deleted: bool  # deleted (or, in a dry run, would be)
    why: str


def prune_branch(repo: Repo, branch: str, base: str, *, dry_run: bool,
                 leaving: frozenset[Path] = frozenset()) -> BranchVerdict:
    """Delete branch if every commit on it is on base and no worktree has it checked out.
    leaving: worktrees about to go (a dry run's removals), which do not count as having it."""
    with repo.metadata_lock():
        tip = repo.branch_commit(branch)
        if tip is None:
            return BranchVerdict(branch, None, False, "gone already")
        if not repo.is_ancestor(tip, base):
            ahead = repo.commits_ahead(tip, base)
            return BranchVerdict(branch, tip, False, f"{ahead} commit(s) on it are not on {base}")
        holder = next((p for p, b in repo.worktrees().items() if b == branch and p not in leaving), None)
        if holder is not None:
            return BranchVerdict(branch, tip, False, f"checked out in {holder}")
        if not dry_run and not repo.ok("update-ref", "-m", "orchestrator: prune", "-d", f"refs/heads/{branch}", tip):
            return BranchVerdict(branch, tip, False, "it moved while we looked (prune again)")
    return BranchVerdict(branch, tip, True, f"every commit on it is on {base}")
