"""The task graph: dependencies, subtasks, and the one function that completes a task.

complete() is the only way a task reaches done/: it moves the task, then at once releases
every blocked task that was waiting only for it (dependents to incoming/, a broken-down
parent to done/). The tick's release_blocked() is the safety net for a crash in between.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from orchestrator.base.errors import StateError
from orchestrator.formats.task import Task
from orchestrator.store.backend import QueueBackend
from orchestrator.store.records import Entry, entry_of


def complete(queue: QueueBackend, task_id: str, src: str, *, actor: str, reason: str | None = None,
             event: str = "done", updates: dict | None = None,
             before_move: Callable[[Task], dict[str, Any] | None] | None = None, **details: Any) -> bool:
    """Move task_id from src/ to done/ and release what waited for it (before_move: see
    Queue.transition). False when the task was not in src/."""
    moved = queue.transition(task_id, src, "done", actor=actor, reason=reason, event=event,
                             updates=updates, before_move=before_move, **details)
    if moved is None:
        return False
    release_waiting(queue, actor=actor, finished=task_id)
    return True


def blocked_entries(queue: QueueBackend) -> list[Entry]:
    # Unreadable files are reported by validate and the index, not here.
    return [entry_of(listed.task, "blocked", 0.0) for listed in queue.listing("blocked") if listed.task is not None]


def release_waiting(queue: QueueBackend, *, actor: str, finished: str | None = None,
                    entries: Iterable[Entry] | None = None) -> list[str]:
    """Release blocked tasks whose dependencies (and subtasks) are all done; return their ids."""
    released = []
    for entry in blocked_entries(queue) if entries is None else entries:
        if finished is not None and finished not in entry.waits_for:
            continue
        if release_if_ready(queue, entry, actor=actor):
            released.append(entry.id)
    return released


def release_if_ready(queue: QueueBackend, entry: Entry, *, actor: str) -> bool:
    if entry.held or not all(is_done(queue, d) for d in entry.waits_for):
        return False
    if entry.subtasks:
        return complete(queue, entry.id, "blocked", actor=actor, event="done",
                        reason="all subtasks are done")
    return queue.transition(entry.id, "blocked", "incoming", actor=actor, event="released",
                            reason="all dependencies are done") is not None


def is_done(queue: QueueBackend, task_id: str) -> bool:
    return queue.in_state(task_id, "done")


def unmet(queue: QueueBackend, depends_on: Iterable[str]) -> list[str]:
    return [d for d in depends_on if not is_done(queue, d)]


def failed_dependencies(queue: QueueBackend, depends_on: Iterable[str]) -> list[str]:
    """Dependencies that are in failed/ (directly): the reason a blocked task is stuck."""
    return [d for d in depends_on if queue.in_state(d, "failed")]


def find_cycle(edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A dependency cycle as a path [a, b, ..., a], or None. edges: task -> what it depends on."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour: dict[str, int] = {}
    for start in edges:
        if colour.get(start, WHITE) != WHITE:
            continue
        stack = [(start, iter(edges.get(start, ())))]
        path = [start]
        colour[start] = GREY
        while stack:
            node, children = stack[-1]
            for child in children:
                state = colour.get(child, WHITE)
                if state == GREY:
                    return path[path.index(child):] + [child]
                if state == WHITE and child in edges:
                    colour[child] = GREY
                    stack.append((child, iter(edges.get(child, ()))))
                    path.append(child)
                    break
            else:
                colour[node] = BLACK
                stack.pop()
                path.pop()
    return None


def check_new_dependencies(queue: QueueBackend, batch: Mapping[str, Iterable[str]]) -> None:
    """Refuse unknown dependencies and cycles among new tasks (and the tasks already queued)."""
    edges: dict[str, list[str]] = {}
    for task_id, deps in batch.items():
        for dep in deps:
            if dep not in batch and queue.locate(dep) is None:
                raise StateError(f"task '{task_id}' depends on '{dep}', which does not exist "
                                 "(enqueue it first, or fix depends_on)")
        edges[task_id] = list(deps)
    cycle = find_cycle(edges)
    if cycle:
        raise StateError(f"dependency cycle: {' -> '.join(cycle)} (remove one of these dependencies)")


def waiting_state(queue: QueueBackend, depends_on: Iterable[str]) -> str:
    """Where a new task with these dependencies belongs: incoming/ if all are done, else blocked/."""
    return "blocked" if unmet(queue, depends_on) else "incoming"


