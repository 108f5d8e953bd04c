"""Commands a person gives about one task: retry and cancel (accept and reject are in review.py)."""

from __future__ import annotations

import signal

import psutil

from orchestrator import graph, processes
from orchestrator.clock import iso, utcnow
from orchestrator.config import Config
from orchestrator.errors import NotFoundError, StateError
from orchestrator.queue import TERMINAL, Queue
from orchestrator.reconcile import kill_leftovers
from orchestrator.runs import Result, Runs
from orchestrator.settle import release_worktree


def retry(queue: Queue, task_id: str, *, actor: str = "person") -> str:
    """Give a failed or blocked task another round: back to incoming/ (or blocked/ for dependencies)."""
    state = queue.locate(task_id)
    if state not in ("failed", "blocked"):
        raise StateError(f"task '{task_id}' is in {state or 'no state'}/; retry takes a task from failed/ or blocked/")
    _, task = queue.read(task_id, state)
    dst = graph.waiting_state(queue, task.depends_on)
    updates = {"blocked_reason": None, "retry_after": None}
    if state == "failed":
        updates.update(attempts=0, last_error=None)
    if task.subtasks:
        dst = "blocked"  # a broken-down task still waits for its subtasks
    queue.transition(task_id, state, dst, actor=actor, event="retried", reason=f"retried by {actor}",
                     updates=updates)
    if dst == "blocked":
        graph.release_waiting(queue, actor=actor, entries=[e for e in graph.blocked_entries(queue) if e.id == task_id])
    return queue.locate(task_id) or dst


def cancel(cfg: Config, queue: Queue, task_id: str, *, actor: str = "person") -> str:
    """Stop a task wherever it is short of done/ or failed/; a running attempt's processes are killed."""
    for _ in range(5):  # the task may move while we stop it (a runner finishing): follow it
        state = queue.locate(task_id)
        if state is None:
            raise NotFoundError(f"no task '{task_id}' in {queue.root}")
        if state in TERMINAL:
            raise StateError(f"task '{task_id}' is already in {state}/; nothing to cancel")
        if state == "claimed":
            stop_attempt(queue, Runs(cfg.state_dir), task_id, cfg.kill_grace_seconds)
        moved = queue.transition(task_id, state, "failed", actor=actor, event="cancelled", reason="cancelled",
                                 updates={"last_error": f"cancelled by {actor}", "retry_after": None})
        if moved is not None:
            return "failed"
    raise StateError(f"task '{task_id}' kept moving; try again")


def stop_attempt(queue: Queue, runs: Runs, task_id: str, grace: float) -> None:
    """Kill the runner of the task's current attempt, then every process of its agent."""
    attempt = runs.latest(task_id)
    spec = attempt.spec() if attempt else None
    if attempt is None or spec is None:
        return
    owner = processes.Identity.from_record(attempt.owner())
    if processes.is_alive(owner):
        try:
            psutil.Process(owner.pid).send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    kill_leftovers(attempt, spec.token, grace)
    if attempt.result() is None:
        attempt.write_result(Result("cancelled", "cancelled by a person", iso(utcnow()), counts=False))
    release_worktree(spec)


