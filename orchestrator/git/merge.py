"""Landing a task branch on the base branch without touching what the person is doing.

The merge is computed without any checkout (`git merge-tree --write-tree`, then `commit-tree`),
so a conflict, a crash or a kill -9 part-way leaves no half-merge anywhere. The base branch
then moves only the way git would let a person move it:

- not checked out anywhere: `update-ref refs/heads/<base> NEW OLD`, a compare-and-swap: if
  anybody moved the branch since we looked, nothing changes and we say so;
- checked out in a worktree (the person's checkout): only when that checkout is quiet (no
  merge, rebase, cherry-pick or revert under way, no index.lock, no uncommitted changes to
  tracked files) and then by `git merge --ff-only NEW` there: git itself updates the files,
  the index and the ref, and refuses if an untracked file would be overwritten;
- being rebased (during `git rebase` the branch is checked out nowhere, but its worktree's
  rebase state names it): never; the person finishes or aborts first.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.base import commands
from orchestrator.base.errors import GitError, MergeRefusedError
from orchestrator.git.landing import Conflict, stack_merge
from orchestrator.git.repo import Repo, clean_env

BUSY_MARKERS = {  # files in a worktree's git dir that mean a git operation is under way there
    "MERGE_HEAD": "a merge", "CHERRY_PICK_HEAD": "a cherry-pick", "REVERT_HEAD": "a revert",
    "rebase-merge": "a rebase", "rebase-apply": "a rebase or am", "index.lock": "another git command "
    "(or a stale index.lock: remove it if no git command is running)",
}


def merge_into_base(repo: Repo, branch: str, base: str, message: str) -> str:
    """Merge branch into base; return what happened ("already merged", "fast-forward", "merge
    commit", with "in <checkout>" when the person's checkout was brought along). Raises
    GitError, having changed nothing, when it cannot be done safely."""
    with repo.metadata_lock():
        if repo.is_ancestor(branch, base):
            return "already merged"
        checkout = _base_movable(repo, base, what=branch)
        old = repo.head_commit(base)
        new, how = _merged_commit(repo, branch, base, old, message)
        _move(repo, base, new, old, checkout)
        return how if checkout is None else f"{how} in {checkout}"


def move_base(repo: Repo, base: str, new: str, old: str) -> str:
    """Move base from old to new (a descendant of old) the way a person could: the ref alone when base
    is checked out nowhere, a fast-forward of the person's quiet checkout when it is. Returns where
    ("the ref" or the checkout); raises MergeRefusedError, having changed nothing, when it cannot."""
    with repo.metadata_lock():
        checkout = _base_movable(repo, base, what=base)
        _move(repo, base, new, old, checkout)
        return "the ref" if checkout is None else str(checkout)


def base_blocked(repo: Repo, base: str) -> str | None:
    """Why base could not move now (its checkout is busy or dirty, it is being rebased), or None:
    the merge queue asks before it spends a check on a candidate it could not land."""
    try:
        _base_movable(repo, base, what=base)
    except MergeRefusedError as exc:
        return str(exc)
    return None


def _base_movable(repo: Repo, base: str, *, what: str) -> Path | None:
    """The person's checkout of base (None: not checked out), once we know base may move there."""
    rebasing = _rebasing(repo, base)
    if rebasing is not None:
        raise _refused(what, f"'{base}' is being rebased in {rebasing}; finish or abort the rebase, "
                             "then accept again")
    checkout = next((p for p, b in repo.worktrees().items() if b == base), None)
    if checkout is not None:
        problem = _not_quiet(repo, checkout)
        if problem:
            raise _refused(what, f"'{base}' is checked out in {checkout}, which has {problem}; "
                                 "finish that (or commit or stash), then accept again")
    return checkout


def _move(repo: Repo, base: str, new: str, old: str, checkout: Path | None) -> None:
    if checkout is None:
        _compare_and_swap(repo, base, new, old)
    else:
        _fast_forward_checkout(repo, checkout, base, new, old)


def _merged_commit(repo: Repo, branch: str, base: str, old: str, message: str) -> tuple[str, str]:
    tip = repo.head_commit(branch)
    if repo.is_ancestor(base, branch):
        return tip, "fast-forward"
    merged = stack_merge(repo, old, tip, message)
    if isinstance(merged, Conflict):
        raise _refused(branch, f"it would conflict with {base} in: {', '.join(merged.files[:10])} "
                               "(rebase the branch or merge by hand)")
    return merged, "merge commit"


def _compare_and_swap(repo: Repo, base: str, new: str, old: str) -> None:
    try:
        repo.git("update-ref", "-m", "orchestrator: land", f"refs/heads/{base}", new, old)
    except GitError:
        raise _refused(base, f"'{base}' moved while we merged (accept again)") from None


def _fast_forward_checkout(repo: Repo, checkout: Path, base: str, new: str, old: str) -> None:
    """Bring the person's checkout of base to new with git's own fast-forward, or change nothing."""
    identity = repo.identity(checkout)
    done = commands.run(["git", "merge", "--ff-only", "--quiet", new], cwd=checkout, env=clean_env(identity),
                        check=False, error=GitError)
    if done.returncode != 0:
        now = repo.head_commit(base)
        if now != old:
            raise _refused(base, f"'{base}' moved in {checkout} while we merged (accept again)")
        raise GitError(list(done.cmd), done.returncode, done.stdout + done.stderr,
                       why=f"git refused to fast-forward {checkout} (its output says why); nothing was changed")


def _rebasing(repo: Repo, base: str) -> Path | None:
    """The worktree in which base is being rebased, or None."""
    for gitdir, worktree in _worktree_gitdirs(repo):
        for marker in ("rebase-merge", "rebase-apply"):
            head_name = gitdir / marker / "head-name"
            try:
                if head_name.read_text().strip() == f"refs/heads/{base}":
                    return worktree
            except OSError:
                continue
    return None


def _worktree_gitdirs(repo: Repo) -> list[tuple[Path, Path]]:
    """(git dir, worktree path) for the main worktree and every linked one."""
    common = repo.common_dir
    found = [(common, common.parent)]
    linked = common / "worktrees"
    if linked.is_dir():
        for gitdir in sorted(linked.iterdir()):
            try:
                path = Path((gitdir / "gitdir").read_text().strip()).parent
            except OSError:
                continue
            found.append((gitdir, path))
    return found


def _not_quiet(repo: Repo, checkout: Path) -> str | None:
    """What is under way in the checkout (a merge, a rebase, a lock, tracked changes), or None."""
    gitdir = Path(repo.git("rev-parse", "--absolute-git-dir", cwd=checkout).strip())
    for marker, what in BUSY_MARKERS.items():
        if (gitdir / marker).exists():
            return f"{what} under way"
    if repo.git("status", "--porcelain", "--untracked-files=no", cwd=checkout).strip():
        return "uncommitted changes to tracked files"
    return None


def _refused(what: str, why: str) -> MergeRefusedError:
    return MergeRefusedError(f"cannot merge {what}: {why}; nothing was changed")
