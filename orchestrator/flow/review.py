"""Review: accepting a branch (optionally merging it) or sending the task back with feedback.

People call these through `accept` and `reject`; a reviewing agent's result goes through
the same two functions (from settle), so both kinds of review behave the same.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.base.errors import StateError
from orchestrator.flow import graph
from orchestrator.git.repo import Repo
from orchestrator.store.queue import Queue


def accept(queue: Queue, repo: Repo, task_id: str, src: str, *, base_branch: str, branch: str, merge: bool,
           actor: str, reviewer: str = "person") -> str:
    """Move an accepted task to done/, merging its branch first when asked. Returns what was done."""
    state = queue.locate(task_id)
    if state != src:
        raise StateError(f"task '{task_id}' is in {state or 'no state'}/, not {src}/; only a task waiting "
                         "for review can be accepted")
    how = "accepted"
    if merge:
        how = repo.merge(branch, base_branch, f"Merge {branch}: task {task_id}")  # raises, changing nothing
    graph.complete(queue, task_id, src, actor=actor, event="accepted", reason=f"accepted by {reviewer}",
                   merged=how if merge else None)
    return how


def reject(queue: Queue, task_id: str, src: str, *, reason: str, max_rejections: int, actor: str,
           reviewer: str = "person") -> str:
    """Send a task back to incoming/ with the feedback, or to failed/ at the rejection limit."""
    _, task = queue.read(task_id, src)
    feedback = task.feedback + (f"review by {reviewer}: {reason}",)
    if len(feedback) >= max_rejections:
        history = "\n".join(feedback)
        queue.transition(task_id, src, "failed", actor=actor, event="rejected", reason=reason,
                         updates={"feedback": feedback, "retry_after": None,
                                  "last_error": f"rejected {len(feedback)} times (max_rejections):\n{history}"})
        return "failed"
    # A rejection asks for new work: the attempt count starts again, the branch continues.
    queue.transition(task_id, src, "incoming", actor=actor, event="rejected", reason=reason,
                     updates={"feedback": feedback, "attempts": 0, "retry_after": None, "last_error": None})
    return "incoming"


def write_diff(repo: Repo, base_branch: str, branch: str, path: Path) -> None:
    path.write_text(repo.diff(base_branch, branch), encoding="utf-8")
