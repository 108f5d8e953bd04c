"""The enqueue rules, for one task (a person, a script) and for many at once (an imported plan,
a breakdown's subtasks). The CLI, the Python API, import and outboxes all come through here.

One task (`enqueue_one`): its fields are checked as a task file's would be; its id is the one
asked for or a free one made from the title; every dependency must exist; a pinned agent must
be configured; it starts in blocked/ while a dependency is not done, else in incoming/.

Everything is checked before anything is written: every task is valid, every dependency
exists (in the batch or the queue), there is no cycle, and no id is taken by a different
task. Then the tasks are enqueued dependencies first. A task that is already queued with
the same title is skipped, so running the same batch twice creates nothing twice, and a
batch cut short by a crash is completed by running it again.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from orchestrator.base.errors import StateError, UsageError
from orchestrator.flow import graph
from orchestrator.formats import task as taskfmt
from orchestrator.formats.task import Task
from orchestrator.store.backend import QueueBackend


@dataclass
class BatchResult:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class NewTask:
    """A task as a person or a script asks for it (None: the task file's default)."""

    title: str
    body: str = ""
    task_id: str | None = None
    priority: str | None = None
    role: str | None = None
    agent: str | None = None
    depends_on: tuple[str, ...] = ()
    max_attempts: int | None = None


def enqueue_one(queue: QueueBackend, request: NewTask, *, agents: Collection[str] | None,
                actor: str = "person") -> tuple[Task, str]:
    """Check and enqueue one task; return it and the state it starts in. agents: the configured
    agent names (a pin to another is refused)."""
    fields: dict[str, Any] = {"title": request.title}
    for key in ("role", "agent", "max_attempts"):
        if getattr(request, key) is not None:
            fields[key] = getattr(request, key)
    if request.priority is not None:
        fields["priority"] = request.priority.upper()
    if request.depends_on:
        fields["depends_on"] = list(request.depends_on)
    if request.agent is not None and agents is not None and request.agent not in agents:
        raise UsageError(f"agent '{request.agent}': no such agent (configured: {', '.join(sorted(agents)) or 'none'})")
    for dep in request.depends_on:
        taskfmt.check_id(dep)
        if queue.locate(dep) is None:
            raise UsageError(f"depends on '{dep}': no such task (enqueue it first)")
    task_id = request.task_id or _free_id(queue, taskfmt.slugify(request.title))
    task = taskfmt.from_fields(fields, request.body, file_id=taskfmt.check_id(task_id), source="the new task")
    queue.check_case([task.id])
    graph.check_new_dependencies(queue, {task.id: task.depends_on})
    state = graph.waiting_state(queue, task.depends_on)
    queue.enqueue(task, actor=actor, state=state, reason="waiting for dependencies" if state == "blocked" else None)
    return task, state


def _free_id(queue: QueueBackend, base: str) -> str:
    task_id = base
    for n in range(2, 10_000):
        if queue.locate(task_id) is None:
            return task_id
        task_id = f"{base}-{n}"
    raise StateError(f"no free id left for '{base}' (pass an id)")


def plan(queue: QueueBackend, tasks: list[Task]) -> tuple[list[Task], list[str]]:
    """Check the batch; return (tasks to create in dependency order, ids already queued)."""
    by_id: dict[str, Task] = {}
    for task in tasks:
        if task.id in by_id:
            raise StateError(f"two tasks in one batch have the id '{task.id}'")
        by_id[task.id] = task
    existing = []
    queue.check_case([t.id for t in tasks])
    present = queue.stamps()  # (one scan of the queue, not a look in every state per task)
    for task in tasks:
        state = present.get(task.id, (None,))[0]
        if state is None:
            continue
        _, queued = queue.read(task.id, state)
        if queued.title != task.title:
            raise StateError(f"id '{task.id}' is already used by another task in {state}/ "
                             f"('{queued.title}'); nothing was enqueued (choose other ids, e.g. with --prefix)")
        existing.append(task.id)
    graph.check_new_dependencies(queue, {t.id: t.depends_on for t in tasks if t.id not in existing})
    return [t for t in _dependency_order(by_id) if t.id not in existing], existing


def enqueue(queue: QueueBackend, tasks: list[Task], *, actor: str) -> BatchResult:
    to_create, existing = plan(queue, tasks)
    result = BatchResult(existing=existing)
    done = {task_id for task_id, (state, *_) in queue.stamps().items() if state == "done"}
    # (tasks of the batch are new: never done, so what waits for one starts in blocked/)
    batch = [(task, "incoming" if all(d in done for d in task.depends_on) else "blocked") for task in to_create]
    result.created = queue.enqueue_many(batch, actor=actor)
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
