"""The queue: the only code that creates, moves or rewrites task files.

Directories are states; a task file is in exactly one of them at any instant. Every move
is one os.rename inside one filesystem. Moves of one task are serialized by a per-task
flock (the kernel drops it when a process dies, so a kill -9 leaves no stale lock); the
claim itself is the rename, so it stays exact even between processes that skip the lock.

Dispatch reads incoming/ through a TaskIndex: parsed summaries keyed by file identity and
modification time, so a tick re-reads only files that changed and never reads done/.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from orchestrator.base import durable
from orchestrator.base.clock import utcnow
from orchestrator.base.errors import DiskFullError, NotFoundError, StateError, TaskFileError
from orchestrator.base.faults import crash_point
from orchestrator.base.locks import FileLock
from orchestrator.formats import task as taskfmt
from orchestrator.formats.layout import StateDir
from orchestrator.formats.task import Task
from orchestrator.store import folders
from orchestrator.store.journal import Journal
from orchestrator.store.quarantine import INVALID, Quarantine
from orchestrator.store.records import (
    STATES,
    SUFFIX,
    Listed,
    OneMachine,
    check_revision,
    moved,
)
from orchestrator.store.taskfile import read_task_file


class Queue(OneMachine):
    def __init__(self, queue_dir: Path, state_dir: Path, journal: Journal | None = None):
        self.root = queue_dir
        self.state_dir = state_dir
        self.locks = StateDir(state_dir).task_locks
        self.journal = journal or Journal(StateDir(state_dir).journal)
        self.invalid = Quarantine(self)
        self._held: set[tuple[int, str]] = set()  # (thread, task id): task locks this thread holds
        self._dirs: dict[str, Path] = {}  # state -> its folder: path() runs thousands of times in a batch

    # ---- paths --------------------------------------------------------------------

    def dir(self, state: str) -> Path:
        folder = self._dirs.get(state)
        if folder is None:
            folder = self._dirs[state] = self.root / state
        return folder

    def path(self, state: str, task_id: str) -> Path:
        taskfmt.check_id(task_id)
        return self.dir(state) / (task_id + SUFFIX)

    def ensure_ready(self) -> None:
        self.ensure_dirs()

    def ensure_dirs(self) -> None:
        for state in STATES + (INVALID,):
            durable.make_dirs(self.dir(state))
        durable.make_dirs(self.locks)
        self.check_dirs()

    def check_dirs(self) -> None:
        """Every state directory a real directory, all on the queue's filesystem (store/folders.py)."""
        folders.check_tree(self.root, self.state_dir, [self.dir(state) for state in STATES + (INVALID,)])

    def _check_dir(self, state: str) -> os.stat_result | None:
        return folders.plain_dir(self.dir(state))

    def locate(self, task_id: str) -> str | None:
        """The state task_id is in now, or None."""
        for state in STATES:
            if os.path.lexists(self.path(state, task_id)):
                return state
        return None

    def stamps(self) -> dict[str, tuple[str, int, int]]:
        """Every task id with its state, its file's size and mtime_ns: one directory scan per state
        (an import of thousands of tasks asks this of each)."""
        found: dict[str, tuple[str, int, int]] = {}
        for state in STATES:
            for entry in self.names(state):
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                found.setdefault(entry.name[: -len(SUFFIX)], (state, st.st_size, st.st_mtime_ns))
        return found

    def names(self, state: str) -> Iterator[os.DirEntry]:
        try:
            entries = os.scandir(self.dir(state))
        except FileNotFoundError:
            return
        with entries:
            for entry in entries:
                if entry.name.endswith(SUFFIX) and not entry.name.startswith("."):
                    yield entry

    def count(self, state: str) -> int:
        return sum(1 for _ in self.names(state))

    kind = "file"

    @property
    def where(self) -> str:
        """Where the queue is, for messages."""
        return str(self.root)

    def close(self) -> None:
        """Nothing to let go (the database queue closes its connections)."""

    def location(self, state: str, task_id: str) -> str:
        return str(self.path(state, task_id))

    def listing(self, state: str, *, newest_first: bool = False, limit: int | None = None) -> list[Listed]:
        """The tasks in state, parsed (a file that does not parse carries its error), by id or newest first."""
        entries = list(self.names(state))
        if newest_first:
            entries.sort(key=folders.mtime_or_zero, reverse=True)
        else:
            entries.sort(key=lambda e: e.name)
        listed = []
        for entry in entries[:limit] if limit is not None else entries:
            try:
                listed.append(Listed(entry.name[: -len(SUFFIX)], self.read_file(Path(entry.path)), None, entry.path))
            except FileNotFoundError:
                continue  # moved on while we listed
            except TaskFileError as exc:
                listed.append(Listed(entry.name[: -len(SUFFIX)], None, str(exc), entry.path))
        return listed

    def in_state(self, task_id: str, state: str) -> bool:
        return os.path.lexists(self.path(state, task_id))

    def get(self, task_id: str, state: str) -> Task | None:
        """The task if it is in state now, else None (TaskFileError if its file does not parse)."""
        try:
            return self.read_file(self.path(state, task_id))
        except FileNotFoundError:
            return None

    def generation(self, state: str) -> int:
        """A number that changes whenever a task enters or leaves state (the folder's mtime): a memo key."""
        try:
            return os.stat(self.dir(state)).st_mtime_ns
        except FileNotFoundError:
            return 0

    def moved_at(self, task_id: str, state: str) -> float | None:
        """When the task entered state (the rename sets the file's ctime), or None if it is not there."""
        try:
            return os.lstat(self.path(state, task_id)).st_ctime
        except FileNotFoundError:
            return None

    def claimed_here(self) -> list[str]:
        """The claimed tasks whose runners run on this machine: on one filesystem, all of them."""
        return self.ids("claimed")

    def sweep_temp_files(self, states: Iterable[str], max_age: float) -> int:
        """Delete temporary files that a crash left in the queue; a live writer's are younger than max_age."""
        return folders.sweep_temp_files([self.dir(state) for state in states], max_age)

    # ---- quarantine (invalid/) -------------------------------------------------------

    def find_invalid(self, task_id: str) -> str | None:
        return self.invalid.find(task_id)

    def readmit(self, name: str, *, actor: str) -> tuple[str, str]:
        return self.invalid.readmit(name, actor=actor)

    def look_again(self, *, actor: str = "tick") -> list[str]:
        return self.invalid.look_again(actor=actor)

    def ids(self, state: str) -> list[str]:
        return sorted(entry.name[: -len(SUFFIX)] for entry in self.names(state))

    def states_of(self, task_ids: Iterable[str]) -> dict[str, str]:
        """The state of each of task_ids that exists."""
        found = {}
        for task_id in task_ids:
            state = self.locate(task_id)
            if state is not None:
                found[task_id] = state
        return found

    # ---- reading ------------------------------------------------------------------

    def read(self, task_id: str, state: str | None = None) -> tuple[str, Task]:
        state = state or self.locate(task_id)
        if state is None:
            raise NotFoundError(f"no task '{task_id}' in {self.root} (see 'python -m orchestrator list')")
        return state, self.read_file(self.path(state, task_id))

    def read_file(self, path: Path) -> Task:
        return read_task_file(path)

    # ---- writing ------------------------------------------------------------------

    @contextmanager
    def task_lock(self, task_id: str, blocking: bool = True) -> Iterator[bool]:
        """Hold the per-task lock; yields False when non-blocking and someone else holds it. A thread
        that holds it already (task_locks) goes on: a second flock of the file would wait for itself."""
        key = (threading.get_ident(), task_id)
        if key in self._held:
            yield True
            return
        lock = FileLock(self.locks / f"{task_id}.lock")
        if blocking:
            lock.acquire(timeout=None)
        elif not lock.acquire(timeout=0):
            yield False
            return
        self._held.add(key)
        try:
            yield True
        finally:
            self._held.discard(key)
            lock.release()

    @contextmanager
    def task_locks(self, task_ids: Iterable[str]) -> Iterator[None]:
        """Hold the locks of several tasks (in id order) across more than one move: no one else moves
        any of them meanwhile; this thread's transitions of them go on under the held locks."""
        with ExitStack() as stack:
            for task_id in sorted(set(task_ids)):
                stack.enter_context(self.task_lock(task_id))
            yield

    def enqueue(self, task: Task, *, actor: str = "person", state: str | None = None,
                reason: str | None = None) -> str:
        """Publish a new task file atomically; refuse an id that exists in any state.

        state None: blocked/ while a dependency is not in done/, else incoming/. A task with a
        dependency not done never goes straight to incoming/ (it would run too early)."""
        waiting = [d for d in task.depends_on if not os.path.exists(self.path("done", d))]
        if state is None:
            state = "blocked" if waiting else "incoming"
            reason = reason or ("waiting for dependencies" if waiting else None)
        if state not in ("incoming", "blocked"):
            raise StateError(f"a new task goes to incoming/ or blocked/, not {state}/")
        if state == "incoming" and waiting:
            raise StateError(f"task '{task.id}' waits for {', '.join(waiting)}: it starts in blocked/, not incoming/")
        if task.created is None:
            task = task.with_updates(created=utcnow())
        self.dir(state).mkdir(parents=True, exist_ok=True)
        with self._creating(), self.task_lock(task.id):
            existing = self.locate(task.id)
            if existing:
                raise StateError(f"a task with id '{task.id}' already exists in {existing}/ (choose another --id)")
            if not durable.publish_new(self.path(state, task.id), taskfmt.render(task)):
                raise StateError(f"a task with id '{task.id}' already exists in {state}/")
        self.journal.append("enqueued", task=task.id, actor=actor, to=state, title=task.title, reason=reason,
                            role=task.role, priority=task.priority, agent=task.agent)
        return state

    def enqueue_many(self, tasks: list[tuple[Task, str]], *, actor: str) -> list[str]:
        """Publish many new tasks (each with its start state, dependencies first) as enqueue() does
        each, with one filesystem sync for the batch instead of two fsyncs and a lock per task (an
        import of 2,000). Each file is whole or absent; an id that exists in any state is refused;
        new ids are made under the one lock every enqueue takes, so no id is made twice."""
        now = utcnow()
        staged: list[tuple[Task, str, Path]] = []
        created: list[tuple[Task, str]] = []
        with self._creating():
            present = self.stamps()
            batch: set[str] = set()
            try:
                for task, state in tasks:
                    self._check_start(task, state, present, batch)
                    batch.add(task.id)
                    task = task if task.created else task.with_updates(created=now)
                    self.dir(state).mkdir(parents=True, exist_ok=True)
                    staged.append((task, state, durable.stage_unsynced(self.path(state, task.id),
                                                                       taskfmt.render(task).encode())))
                if staged:
                    durable.sync_filesystem(self.root)
                while staged:
                    task, state, tmp = staged.pop(0)
                    if not durable.publish_staged(tmp, self.path(state, task.id)):
                        raise StateError(f"a task with id '{task.id}' already exists in {state}/")
                    created.append((task, state))
            finally:
                for _, _, tmp in staged:
                    durable.discard(tmp)
                self._sync_dirs(*{state for _, state in created})
                self.journal.append_many([
                    dict(event="enqueued", task=task.id, actor=actor, to=state, title=task.title, role=task.role,
                         priority=task.priority, agent=task.agent,
                         reason="waiting for dependencies" if state == "blocked" else None)
                    for task, state in created])
        return [task.id for task, _ in created]

    def _check_start(self, task: Task, state: str, present: dict, batch: set[str]) -> None:
        if state not in ("incoming", "blocked"):
            raise StateError(f"a new task goes to incoming/ or blocked/, not {state}/")
        if task.id in present or task.id in batch:
            where = present[task.id][0] if task.id in present else "this batch"
            raise StateError(f"a task with id '{task.id}' already exists in {where}/ (choose another id)")
        waiting = [d for d in task.depends_on if present.get(d, ("",))[0] != "done"]
        if state == "incoming" and waiting:
            raise StateError(f"task '{task.id}' waits for {', '.join(waiting)}: it starts in blocked/, not incoming/")

    def _creating(self) -> FileLock:
        """Held while new task ids are made (enqueue, enqueue_many): an id is made once."""
        return FileLock(self.locks.parent / "enqueue.lock")

    def claim(self, task_id: str, prepare: Callable[[Task, int], None], *, actor: str = "tick",
              src: str = "incoming") -> Task | None:
        """Move task_id from src/ (incoming/, or provisional/ for a review) to claimed/ if nobody else did.

        Returns None when we lost the race.

        prepare(task, fence) runs under the task lock before the rename (it creates the attempt's
        directory), so the newest attempt of a claimed task is always the current claim. The fence
        is 0 here: on one machine the newest attempt is the fence (settle checks it); the
        PostgreSQL queue's claims carry a token of their own (store/pg/queue.py).
        """
        with self.task_lock(task_id, blocking=False) as locked:
            if not locked:
                return None
            path = self.path(src, task_id)
            try:
                task = self.read_file(path)
            except (FileNotFoundError, NotFoundError):
                return None
            prepare(task, 0)
            try:
                os.rename(path, self.path("claimed", task_id))
            except FileNotFoundError:
                return None
            self._sync_dirs(src, "claimed")
        self.journal.append("claimed", task=task_id, actor=actor, **moved(src, "claimed"))
        return task

    def transition(self, task_id: str, src: str, dst: str, *, actor: str, reason: str | None = None,
                   event: str | None = None, updates: dict | None = None,
                   before_move: Callable[[Task], dict[str, Any] | None] | None = None, fence: int | None = None,
                   **details: Any) -> Task | None:
        """Move task_id from src/ to dst/, rewriting runtime fields first; None if it is not in src/.
        (fence: the database queue's claim token; on one machine settle's check of the newest
        attempt is the fence, so it is not used here.)

        Updates are absolute values, never increments, so repeating a transition after a
        crash between the rewrite and the rename gives the same file. before_move runs under the
        task's lock once the task is known to be in src/: what it does (a merge, say) happens only
        if the task is still there, and nobody else can move the task until the move is done; if
        it raises, nothing moves; what it returns is added to the journal event.
        """
        with self.task_lock(task_id):
            for state in {src, dst}:  # a link planted since the tick looked would move the task elsewhere
                self._check_dir(state)
            path = self.path(src, task_id)
            try:
                task = self.read_file(path)
            except FileNotFoundError:
                return None
            if before_move is not None:
                details.update(before_move(task) or {})
            new = task.with_updates(**updates) if updates else task
            if new != task:
                self._rewrite(path, new)
                if src == "claimed":
                    crash_point("settle_after_rewrite")
            if dst != src:
                os.rename(path, self.path(dst, task_id))
                self._sync_dirs(src, dst)
        self.journal.append(event or "moved", task=task_id, actor=actor, reason=reason,
                            **moved(src, dst), **details)
        return new

    def revise(self, task_id: str, src: str, changes: dict[str, Any], *, actor: str,
               reason: str | None = None) -> Task | None:
        """Rewrite what a person or a plan wrote of a task still waiting in incoming/ or blocked/
        (REVISABLE fields), under its lock; None when it has moved on (a claimed, provisional or
        finished task is never revised). One that now waits for a dependency not done goes to
        blocked/; one in blocked/ whose wait is over is left for the release (the tick's)."""
        check_revision(src, changes)
        deps = changes.get("depends_on", ())
        dst = "blocked" if any(not os.path.exists(self.path("done", d)) for d in deps) else src
        return self.transition(task_id, src, dst, actor=actor, event="revised", reason=reason, updates=changes,
                               fields=sorted(changes))

    def quarantine(self, name: str, state: str, problem: str, *, actor: str = "tick") -> Path | None:
        """Move a file that cannot be a task to invalid/, with its .why (store/quarantine.py)."""
        return self.invalid.put(name, state, problem, actor=actor)

    def invalid_files(self) -> list[tuple[str, str]]:
        return self.invalid.files()

    def start_state(self, task: Task) -> str:
        """Where a task enters the queue: blocked/ while a dependency is not in done/, else incoming/."""
        return "blocked" if any(not os.path.exists(self.path("done", d)) for d in task.depends_on) else "incoming"

    def ids_by_case(self) -> dict[str, str]:
        """Every task id in every state, keyed by its lower-case form."""
        return {d.name[: -len(SUFFIX)].lower(): d.name[: -len(SUFFIX)] for state in STATES for d in self.names(state)}

    def check_case(self, task_ids, known: dict[str, str] | None = None) -> None:
        """Refuse ids that differ from a queued task's only in case: on macOS and Windows file systems
        they are the same file and the same branch."""
        known = self.ids_by_case() if known is None else known
        for task_id in task_ids:
            other = known.get(task_id.lower())
            if other is not None and other != task_id:
                raise StateError(f"task id '{task_id}' differs from the existing task '{other}' only in case; "
                                 "choose an id that differs in more than case")

    def _rewrite(self, path: Path, task: Task) -> None:
        try:
            durable.write_atomic(path, taskfmt.render(task))
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFullError(f"disk full while updating {path}; the task is unchanged") from exc
            raise

    def _sync_dirs(self, *states: str) -> None:
        for state in states:
            durable.fsync_dir(self.dir(state))
