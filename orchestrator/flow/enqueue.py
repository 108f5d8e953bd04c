"""Enqueueing many new tasks at once (an imported plan, a breakdown's subtasks).

Everything is checked before anything is written: every task is valid, every dependency
exists (in the batch or the queue), there is no cycle, and no id is taken by a different
task. Then the tasks are enqueued dependencies first. A task that is already queued with
the same title is skipped, so running the same batch twice creates nothing twice, and a
batch cut short by a crash is completed by running it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.flow import graph
from orchestrator.base.errors import StateError
from orchestrator.store.queue import Queue
from orchestrator.formats.task import Task


@dataclass
class BatchResult:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)


def plan(queue: Queue, tasks: list[Task]) -> tuple[list[Task], list[str]]:
    """Check the batch; return (tasks to create in dependency order, ids already queued)."""
    by_id: dict[str, Task] = {}
    for task in tasks:
        if task.id in by_id:
            raise StateError(f"two tasks in one batch have the id '{task.id}'")
        by_id[task.id] = task
    existing = []
    queue.check_case([t.id for t in tasks])
    for task in tasks:
        state = queue.locate(task.id)
        if state is None:
            continue
        _, queued = queue.read(task.id, state)
        if queued.title != task.title:
            raise StateError(f"id '{task.id}' is already used by another task in {state}/ "
                             f"('{queued.title}'); nothing was enqueued (choose other ids, e.g. with --prefix)")
        existing.append(task.id)
    graph.check_new_dependencies(queue, {t.id: t.depends_on for t in tasks if t.id not in existing})
    return [t for t in _dependency_order(by_id) if t.id not in existing], existing


def enqueue(queue: Queue, tasks: list[Task], *, actor: str) -> BatchResult:
    to_create, existing = plan(queue, tasks)
    result = BatchResult(existing=existing)
    for task in to_create:
        state = graph.waiting_state(queue, task.depends_on)
        queue.enqueue(task, actor=actor, state=state,
                      reason="waiting for dependencies" if state == "blocked" else None)
        result.created.append(task.id)
    return result


def _dependency_order(by_id: dict[str, Task]) -> list[Task]:
    """Dependencies before dependents (iterative: a plan may be a long chain)."""
    order: list[Task] = []
    seen: set[str] = set()
    for root in by_id:
        stack = [(root, False)]
        while stack:
            task_id, expanded = stack.pop()
            if expanded:
                order.append(by_id[task_id])
                continue
            if task_id in seen or task_id not in by_id:
                continue
            seen.add(task_id)
            stack.append((task_id, True))
            stack.extend((dep, False) for dep in reversed(by_id[task_id].depends_on))
    return order
