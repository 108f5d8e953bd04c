"""Review: accepting a branch (optionally merging it) or sending the task back with feedback.

People call these through `accept` and `reject`; a reviewing agent's result goes through
the same two functions (from settle), so both kinds of review behave the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.base.clock import utcnow
from orchestrator.base.errors import StateError
from orchestrator.base.faults import crash_point
from orchestrator.flow import graph
from orchestrator.formats.task import Task
from orchestrator.git.merge import merge_into_base
from orchestrator.git.repo import Repo
from orchestrator.store.backend import QueueBackend


def accept(queue: QueueBackend, repo: Repo, task_id: str, src: str, *, base_branch: str, branch: str, merge: bool,
           actor: str, reviewer: str = "person", land: bool = False) -> str:
    """Move an accepted task to done/, merging its branch first when asked; with land, to landing/
    instead, where the merge queue (flow/land.py) lands it once the check passed. Returns what was done.

    The merge runs under the task's lock, after the task is seen in src/, and the task moves to
    done/ before the lock is let go: a reject, cancel or runner that races the accept either
    happens wholly before it (and the accept refuses, merging nothing) or waits until it is done.
    A kill between the merge and the move leaves main merged and the task in src/; accepting again
    finds it "already merged" and finishes."""
    if land:
        return _queue_to_land(queue, task_id, src, reviewer=reviewer, actor=actor)
    how = ["accepted"]

    def merge_first(_task: Task) -> dict[str, Any] | None:
        if not merge:
            return None
        how[0] = merge_into_base(repo, branch, base_branch, f"Merge {branch}: task {task_id}")  # or raises
        crash_point("accept_after_merge")
        return {"merged": how[0]}

    if not graph.complete(queue, task_id, src, actor=actor, event="accepted", reason=f"accepted by {reviewer}",
                          before_move=merge_first):
        state = queue.locate(task_id)
        raise StateError(f"task '{task_id}' is in {state or 'no state'}/, not {src}/; only a task waiting "
                         "for review can be accepted (nothing was merged)")
    return how[0]


def _queue_to_land(queue: QueueBackend, task_id: str, src: str, *, reviewer: str, actor: str) -> str:
    updates: dict[str, Any] = {"accepted_at": utcnow(), "blocked_reason": None}
    if src == "blocked":  # a person looked at a branch the merge queue gave up on: it gets its tries again
        updates["land_attempts"] = 0
    if queue.transition(task_id, src, "landing", actor=actor, event="accepted", updates=updates,
                        reason=f"accepted by {reviewer}; waiting in the merge queue") is None:
        state = queue.locate(task_id)
        raise StateError(f"task '{task_id}' is in {state or 'no state'}/, not {src}/; only a task waiting "
                         "for review can be accepted (nothing was queued)")
    return "queued to land"


def reject(queue: QueueBackend, task_id: str, src: str, *, reason: str, max_rejections: int, actor: str,
           reviewer: str = "person") -> str:
    """Send a task back to incoming/ with the feedback, or to failed/ at the rejection limit."""
    _, task = queue.read(task_id, src)
    feedback = task.feedback + (f"review by {reviewer}: {reason}",)
    updates: dict[str, Any]
    if len(feedback) >= max_rejections:
        history = "\n".join(feedback)
        dst, updates = "failed", {"feedback": feedback, "retry_after": None,
                                  "last_error": f"rejected {len(feedback)} times (max_rejections):\n{history}"}
    else:  # a rejection asks for new work: the attempt count starts again, the branch continues
        dst, updates = "incoming", {"feedback": feedback, "attempts": 0, "retry_after": None, "last_error": None}
    if queue.transition(task_id, src, dst, actor=actor, event="rejected", reason=reason, updates=updates) is None:
        state = queue.locate(task_id)
        raise StateError(f"task '{task_id}' moved to {state or 'no state'}/ meanwhile; it was not rejected")
    return dst


def write_diff(repo: Repo, base_branch: str, branch: str, path: Path) -> None:
    path.write_text(repo.diff(base_branch, branch), encoding="utf-8")
