"""A person's look at a task's branch: its diff, a worktree to run it in, and pruning what is finished.

`checkout ID` makes <state_dir>/review/<id>, a worktree on the task's branch, so a reviewer can run
the code in place (a provisional task's own worktree is gone by then). It stays until the task is
decided (accept, reject, cancel: removed when clean, kept and said when not) or until `prune`.
While an agent has the task (incoming/, claimed/) or another worktree has the branch, the checkout
is detached at the branch's tip instead, and an agent that takes the branch later detaches it
(worktrees.prepare_worktree): git allows a branch in one worktree at a time, and detaching at the
same commit changes no file.

`prune` deletes task branches whose task is finished (done/, failed/) or gone and whose every commit
is on the base branch (git/branches.py), and removes clean review worktrees of such tasks. It holds
each task's lock while it looks and acts, so a retry or a claim cannot come in between.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from orchestrator.base import log
from orchestrator.base.errors import GitError, NotFoundError
from orchestrator.formats.config import Config
from orchestrator.formats.layout import StateDir
from orchestrator.formats.task import id_problem
from orchestrator.git import branches, share, worktrees
from orchestrator.git.repo import MOVED_ASIDE_PREFIX, Repo
from orchestrator.store.backend import QueueBackend

LIVE = ("blocked", "incoming", "claimed", "provisional", "landing", "invalid")  # invalid: quarantined, may come back
WITH_AN_AGENT = ("incoming", "claimed")  # an agent works on the branch, or will take it next
_log = log.get("orchestrator.checkouts")


@dataclass(frozen=True, kw_only=True)
class TaskDiff:
    task_id: str
    state: str | None  # None: the task is gone, its branch is not
    branch: str
    base: str
    merge_base: str | None  # where the branch left base: the diff is against this commit
    merged: bool  # every commit on the branch is on base (nothing to show)
    stat: bool
    text: str


@dataclass(frozen=True, kw_only=True)
class ReviewCheckout:
    task_id: str
    path: str
    branch: str
    detached: bool  # at the branch's tip, not on it: commits made there are on no branch
    created: bool  # False: it was there already
    note: str | None  # what the person should know (why it is detached)


@dataclass(frozen=True, kw_only=True)
class PruneItem:
    kind: str  # "branch" or "review_worktree"
    name: str  # the branch, or the worktree's path
    task_id: str | None
    reason: str
    commit: str | None = None  # a deleted branch's last commit (git branch NAME COMMIT brings it back)


@dataclass(frozen=True, kw_only=True)
class PruneReport:
    dry_run: bool
    deleted: tuple[PruneItem, ...]  # deleted or removed (in a dry run: would be)
    kept: tuple[PruneItem, ...]


def task_state(queue: QueueBackend, task_id: str) -> str | None:
    """The task's state, "invalid" while its file is in quarantine, None when there is no such task."""
    return queue.locate(task_id) or ("invalid" if queue.find_invalid(task_id) else None)


def bring_branch(cfg: Config, repo: Repo, task_id: str) -> None:
    """On a queue several machines share, the task's branch as its last attempt pushed it (it may
    have run on another machine): fetched from `push` before anyone reads or merges it."""
    if not (cfg.queue_url and cfg.push):
        return
    try:
        share.fetch_task_branch(repo, cfg.push, cfg.branch_of(task_id))
    except GitError as exc:
        if repo.branch_commit(cfg.branch_of(task_id)) is None:
            raise  # nothing here to show or merge instead
        _log.warning("branch_not_fetched", task=task_id, remote=cfg.push, error=str(exc),
                     using="the branch as this machine has it")


def task_branch(cfg: Config, queue: QueueBackend, repo: Repo, task_id: str) -> tuple[str | None, str]:
    """(state, branch) of a task that has a branch; NotFoundError when there is no branch to show."""
    bring_branch(cfg, repo, task_id)
    state, branch = task_state(queue, task_id), cfg.branch_of(task_id)
    if repo.branch_commit(branch) is None:
        if state is None:
            raise NotFoundError(f"no task '{task_id}' in {queue.where}, and no branch '{branch}'")
        raise NotFoundError(f"task '{task_id}' ({state}/) has no branch yet: '{branch}' is made when an agent "
                            "first works on it")
    return state, branch


def diff(cfg: Config, queue: QueueBackend, task_id: str, *, stat: bool = False) -> TaskDiff:
    repo = Repo(cfg.repo)
    state, branch = task_branch(cfg, queue, repo, task_id)
    return TaskDiff(task_id=task_id, state=state, branch=branch, base=cfg.base_branch,
                    merge_base=repo.merge_base(cfg.base_branch, branch),
                    merged=repo.is_ancestor(branch, cfg.base_branch), stat=stat,
                    text=repo.diff(cfg.base_branch, branch, stat=stat))


def page_diff(cfg: Config, queue: QueueBackend, task_id: str, *, stat: bool = False) -> int:
    """The diff on the terminal through git itself (its pager, its colours); git's exit code."""
    repo = Repo(cfg.repo)
    _, branch = task_branch(cfg, queue, repo, task_id)
    return repo.page_diff(cfg.base_branch, branch, stat=stat)


def checkout(cfg: Config, queue: QueueBackend, task_id: str) -> ReviewCheckout:
    repo = Repo(cfg.repo)
    state, branch = task_branch(cfg, queue, repo, task_id)
    path = StateDir(cfg.state_dir).review_worktree(task_id)
    made = worktrees.add_review_worktree(repo, path, branch, detach=state in WITH_AN_AGENT)
    note = None
    if made.detached:
        why = (f"at the tip of '{branch}', which is checked out in {made.held_by}" if made.held_by is not None
               else f"at the tip of '{branch}': the task is in {state}/, where an agent works on its branch"
               if made.created else f"not on '{branch}': an agent had the branch, or has it")
        note = f"{path} is detached ({why}); commits made there are on no branch"
    return ReviewCheckout(task_id=task_id, path=str(path), branch=branch, detached=made.detached,
                          created=made.created, note=note)


def release(repo: Repo, state_dir: Path, task_id: str, branch: str) -> str | None:
    """After a decision: remove the task's review worktree unless that would lose work; say why it
    was kept, or None (also when there was none)."""
    path = StateDir(state_dir).review_worktree(task_id)
    if not path.exists():
        return None
    try:
        kept = worktrees.remove_worktree(repo, path, branch)
    except GitError as exc:
        kept = f"could not remove {path}: {exc}"
    if kept:
        kept = f"review {kept}" if kept.startswith("worktree ") else kept
        _log.warning("review_worktree_kept", task=task_id, reason=kept)
    return kept


def prune(cfg: Config, queue: QueueBackend, *, dry_run: bool = False, actor: str = "person") -> PruneReport:
    """Review worktrees of finished tasks first (a removed one frees its branch), then the branches."""
    repo = Repo(cfg.repo)
    deleted: list[PruneItem] = []
    kept: list[PruneItem] = []
    leaving: set[Path] = set()
    for task_id, path in _review_worktrees(StateDir(cfg.state_dir).review, dry_run):
        item, removed = _prune_review_worktree(cfg, queue, repo, task_id, path, dry_run)
        (deleted if removed else kept).append(item)
        if removed:
            leaving.add(path)
    for branch in sorted(branches.task_branches(repo, cfg.branch_prefix)):
        item, removed = _prune_branch(cfg, queue, repo, branch, dry_run, frozenset(leaving), actor)
        (deleted if removed else kept).append(item)
    return PruneReport(dry_run=dry_run, deleted=tuple(deleted), kept=tuple(kept))


def _review_worktrees(review_dir: Path, dry_run: bool) -> list[tuple[str, Path]]:
    try:
        names = sorted(os.listdir(review_dir))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        if name.startswith(MOVED_ASIDE_PREFIX):  # a removal cut short: unregistered already, only files left
            if not dry_run:
                shutil.rmtree(review_dir / name, ignore_errors=True)
        elif not id_problem(name):
            found.append((name, review_dir / name))
    return found


def _prune_review_worktree(cfg: Config, queue: QueueBackend, repo: Repo, task_id: str, path: Path,
                           dry_run: bool) -> tuple[PruneItem, bool]:
    def item(reason: str) -> PruneItem:
        return PruneItem(kind="review_worktree", name=str(path), task_id=task_id, reason=reason)

    with queue.task_lock(task_id, blocking=False) as locked:
        if not locked:
            return item("the task is busy (a decision or a claim under way); prune again"), False
        state = task_state(queue, task_id)
        if state in LIVE:
            return item(f"the task is in {state}/ (removed when it is decided)"), False
        try:
            why = (worktrees.removal_problem(repo, path) if dry_run else
                   worktrees.remove_worktree(repo, path, cfg.branch_of(task_id)))
        except GitError as exc:
            why = f"could not remove it: {exc}"
    if why:
        return item(why.replace(f"worktree {path} has", "it has").replace(f"{path} exists", "it exists")), False
    return item(f"the task is {f'in {state}/' if state else 'gone'}"), True


def _prune_branch(cfg: Config, queue: QueueBackend, repo: Repo, branch: str, dry_run: bool, leaving: frozenset[Path],
                  actor: str) -> tuple[PruneItem, bool]:
    task_id = branch[len(cfg.branch_prefix):]
    if branch == cfg.base_branch or id_problem(task_id):
        return PruneItem(kind="branch", name=branch, task_id=None, reason="not a task's branch"), False
    with queue.task_lock(task_id, blocking=False) as locked:
        if not locked:
            return PruneItem(kind="branch", name=branch, task_id=task_id,
                             reason="the task is busy (a decision or a claim under way); prune again"), False
        state = task_state(queue, task_id)
        if state in LIVE:
            return PruneItem(kind="branch", name=branch, task_id=task_id, reason=f"the task is in {state}/"), False
        verdict = branches.prune_branch(repo, branch, cfg.base_branch, dry_run=dry_run, leaving=leaving)
    whose = f"the task is in {state}/" if state else "the task is gone"
    found = PruneItem(kind="branch", name=branch, task_id=task_id, reason=f"{whose}; {verdict.why}",
                      commit=verdict.commit)
    if verdict.deleted and not dry_run:
        queue.journal.append("branch_pruned", task=task_id, actor=actor, branch=branch, commit=verdict.commit,
                             reason=f"deleted {branch} (was {verdict.commit}): {verdict.why}")
    return found, verdict.deleted
