"""What both queue backends share: the states, the records dispatch and listings read, the rules
of a revision, and what a queue on one machine answers to the questions of several."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from orchestrator.base.errors import StateError
from orchestrator.formats.task import Task

STATES = ("blocked", "incoming", "claimed", "provisional", "landing", "done", "failed")
TERMINAL = ("done", "failed")
REVISABLE = frozenset({"title", "body", "priority", "estimate", "depends_on"})  # what revise may change
SUFFIX = ".md"


class Entry(NamedTuple):
    """What dispatch needs to know of a task without reading its body."""

    id: str
    state: str
    role: str
    agent: str | None
    priority: str
    order: float  # created time as a POSIX timestamp: older first within a priority
    retry_after: float  # POSIX timestamp; 0 when the task may run now
    depends_on: tuple[str, ...]
    parent: str | None
    held: bool  # blocked for a reason a person must resolve: dependency release leaves it alone
    subtasks: tuple[str, ...] = ()  # a broken-down task: done when these are

    @property
    def waits_for(self) -> tuple[str, ...]:
        return self.depends_on + self.subtasks

    def sort_key(self) -> tuple:
        return (self.priority, self.order, self.id)


class Listed(NamedTuple):
    """One task of a listing: its file parsed, or why it does not parse."""

    id: str
    task: Task | None
    error: str | None
    location: str  # where a person finds it: the file (or the database's row)


class OneMachine:
    """The file queue's answers to what only a shared queue (PostgreSQL) has: leases, fences,
    other machines, news from elsewhere. On one machine a runner's liveness is its process
    (reconcile looks) and the newest attempt is the claim (settle checks it)."""

    def heartbeat(self, task_id: str, fence: int, *, pid: int | None = None) -> bool | None:
        return True  # no lease here: a runner's liveness is its process (reconcile looks)

    def expire_leases(self, *, actor: str = "tick", now: Any = None, max_attempts: int | None = None) -> list[str]:
        return []  # no leases: reconcile finds dead runners by their processes

    def note_daemon(self, pid: int, started: float) -> None:
        """One machine: its daemon's pid file says it all."""

    def machines(self) -> list[dict[str, Any]]:
        return []  # one machine: status shows its daemon and runners itself

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        yield True  # one machine: the caller's file lock is enough

    def bind_claim(self, task_id: str, fence: int) -> None:
        """No fences on one machine (settle's check of the newest attempt stands for them)."""

    def holds_claim(self, task_id: str, fence: int) -> bool:
        return True  # on one machine the newest attempt is the claim (settle checks it)

    def watch(self, on_news: Callable[[], None], stop: threading.Event) -> None:
        """Nothing to listen to: the daemon watches incoming/ with file events itself."""


def check_revision(src: str, changes: dict[str, Any]) -> None:
    """What revise may do, on either backend: only a waiting task, only the fields a plan writes."""
    if src not in ("incoming", "blocked"):
        raise StateError(f"only a task waiting in incoming/ or blocked/ can be revised, not one in {src}/")
    unknown = set(changes) - REVISABLE
    if unknown:
        raise StateError(f"revise changes only {', '.join(sorted(REVISABLE))}, not {', '.join(sorted(unknown))}")


def moved(src: str, dst: str) -> dict[str, Any]:
    """The journal's from/to fields ("from" is a keyword, so they travel as a mapping)."""
    return {"from": src, "to": dst}


def entry_of(task: Task, state: str, mtime: float) -> Entry:
    return Entry(
        id=task.id, state=state, role=task.role, agent=task.agent, priority=task.priority,
        order=task.created.timestamp() if task.created else mtime,
        retry_after=task.retry_after.timestamp() if task.retry_after else 0.0,
        depends_on=task.depends_on, parent=task.parent, held=task.blocked_reason is not None,
        subtasks=task.subtasks,
    )

