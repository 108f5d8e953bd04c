"""The queue on PostgreSQL: the file queue's states, moves and records, for several machines.

A task is one row, so it is in one state. A move is one transaction: lock the row (`FOR UPDATE`)
only if it is in the source state, run before_move, write the new text and state, and write the
journal's event in the same transaction; it returns None when the task was not in the source
state (somebody else moved it first), as the file queue does. Updates are absolute values.

A claim takes the row with `FOR UPDATE SKIP LOCKED` (a claimer never waits for another's claim),
raises the row's fencing token and gives the claim a lease (host, pid, start, expiry). The
runner renews the lease with heartbeat(); a move out of claimed/ that names an older token is
refused, so a runner whose lease was taken over cannot settle the task its successor runs.
expire_leases() sends the tasks of dead machines back to incoming/.

task_lock() is PostgreSQL's session advisory lock on a connection of the locking thread (the
server drops it when the connection or its process dies, as the kernel drops a flock), held
across several moves and the git work between them, and re-entrant within a thread.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import Any

import psycopg

from orchestrator.base import log
from orchestrator.base.clock import utcnow
from orchestrator.base.errors import ConfigError, NotFoundError, QueueUnavailableError, StateError, TaskFileError
from orchestrator.base.faults import crash_point
from orchestrator.formats import task as taskfmt
from orchestrator.formats.task import Task
from orchestrator.store.pg import machines
from orchestrator.store.pg.connect import connect, migrate, shown, unreachable
from orchestrator.store.pg.journal import INSERT, PgJournal, record_of, row_of
from orchestrator.store.pg.sessions import AdvisoryLocks, listen
from orchestrator.store.records import Listed, check_revision

CHANNEL = "orchestrator_news"  # NOTIFY'd when a task enters incoming/: pickup without waiting for a tick
DEFAULT_LEASE_SECONDS = 60
_log = log.get("orchestrator.pg")


class PgQueue:
    def __init__(self, url: str, *, lease_seconds: float = DEFAULT_LEASE_SECONDS, host: str | None = None):
        self.url = url
        self.where = shown(url)  # for messages: never the password
        self.lease_seconds = lease_seconds
        self.host = host or socket.gethostname()
        self.conn = connect(url)
        self.lock = threading.RLock()  # one connection, one user at a time
        self.journal = PgJournal(self._txn)
        self.sessions = AdvisoryLocks(url, self.where)
        self._bound: dict[str, int] = {}  # task id -> the fence of the claim this process works for

    def ensure_ready(self) -> list[str]:
        """Apply the schema's migrations (the file queue's ensure_dirs); the names applied."""
        with self.lock:
            return migrate(self.conn)

    @contextmanager
    def _txn(self) -> Iterator[psycopg.Connection]:
        """A transaction on the queue's connection. A connection found dead as the transaction begins
        (the server restarted, a network cut, an administrator ended it) is replaced and the begin
        tried once more; one that dies within the transaction fails it whole, as
        QueueUnavailableError, and the next call connects again."""
        with self.lock:
            begun = False
            try:
                with ExitStack() as stack:
                    for tries in (1, 2):
                        try:
                            if self.conn.closed or self.conn.broken:
                                self.conn = connect(self.url)
                            stack.enter_context(self.conn.transaction())
                            break
                        except (psycopg.OperationalError, ConfigError) as exc:
                            self.conn.close()
                            if tries == 2:
                                raise unreachable(self.where, exc, begun=False) from exc
                    begun = True
                    yield self.conn
            except psycopg.OperationalError as exc:  # within it, or at its COMMIT
                raise unreachable(self.where, exc, begun=begun) from exc

    def close(self) -> None:
        self.conn.close()
        self.sessions.close()

    kind = "postgresql"

    def ensure_dirs(self) -> list[str]:
        """The file queue's name for getting ready: here, the schema's migrations."""
        return self.ensure_ready()

    def check_dirs(self) -> None:
        """Nothing on disk to check (the file queue checks its folders every tick)."""

    def location(self, state: str, task_id: str) -> str:
        return f"{self.where} task {task_id}"

    # ---- reading ------------------------------------------------------------------

    def _one(self, sql: str, args: tuple) -> tuple | None:
        with self._txn() as conn:
            return conn.execute(sql, args).fetchone()

    def _all(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._txn() as conn:
            return conn.execute(sql, args).fetchall()

    def parse_text(self, task_id: str, text: str) -> Task:
        return taskfmt.parse(text, file_id=task_id, source=f"{self.where} task {task_id}", trusted=True)

    def locate(self, task_id: str) -> str | None:
        row = self._one("SELECT state FROM orchestrator_tasks WHERE id = %s", (task_id,))
        return row[0] if row else None

    def read(self, task_id: str, state: str | None = None) -> tuple[str, Task]:
        row = self._one("SELECT state, text FROM orchestrator_tasks WHERE id = %s AND (%s::text IS NULL OR state = %s)",
                        (task_id, state, state))
        if row is None:
            raise NotFoundError(f"no task '{task_id}' in {self.where} (see 'python -m orchestrator list')")
        return row[0], self.parse_text(task_id, row[1])

    def count(self, state: str) -> int:
        row = self._one("SELECT count(*) FROM orchestrator_tasks WHERE state = %s", (state,))
        return int(row[0]) if row else 0

    def ids(self, state: str) -> list[str]:
        return [r[0] for r in self._all("SELECT id FROM orchestrator_tasks WHERE state = %s ORDER BY id", (state,))]

    def listing(self, state: str, *, newest_first: bool = False, limit: int | None = None) -> list[Listed]:
        order = "moved_at DESC, id" if newest_first else "id"
        rows = self._all(f"SELECT id, text FROM orchestrator_tasks WHERE state = %s ORDER BY {order}"
                         + (" LIMIT %s" if limit is not None else ""), (state, limit) if limit is not None else (state,))
        listed = []
        for task_id, text in rows:
            try:
                listed.append(Listed(task_id, self.parse_text(task_id, text), None, self.location(state, task_id)))
            except TaskFileError as exc:  # a row written by hand, not by us
                listed.append(Listed(task_id, None, str(exc), self.location(state, task_id)))
        return listed

    def rows(self, state: str) -> list[tuple[str, int, str, float]]:
        """(id, version, text, moved_at) of every task in state: what the index parses what changed of."""
        return [(task_id, int(version), text, moved.timestamp()) for task_id, version, text, moved in
                self._all("SELECT id, version, text, moved_at FROM orchestrator_tasks WHERE state = %s", (state,))]

    def in_state(self, task_id: str, state: str) -> bool:
        return self._one("SELECT 1 FROM orchestrator_tasks WHERE id = %s AND state = %s", (task_id, state)) is not None

    def get(self, task_id: str, state: str) -> Task | None:
        row = self._one("SELECT text FROM orchestrator_tasks WHERE id = %s AND state = %s", (task_id, state))
        return self.parse_text(task_id, row[0]) if row else None

    def generation(self, state: str) -> int:
        """A memo key that changes whenever a task enters, leaves or is rewritten in state: every write
        raises a row's version, so the count and the sum of versions move (also for a late commit,
        which a sequence number given at insert would not show)."""
        row = self._one("SELECT count(*), coalesce(sum(version), 0) FROM orchestrator_tasks WHERE state = %s",
                        (state,))
        return hash((int(row[0]), int(row[1]))) if row else 0

    def moved_at(self, task_id: str, state: str) -> float | None:
        row = self._one("SELECT moved_at FROM orchestrator_tasks WHERE id = %s AND state = %s", (task_id, state))
        return row[0].timestamp() if row else None

    def claimed_here(self) -> list[str]:
        """The claimed tasks whose lease this machine holds (another machine's are its own business,
        and come back by expire_leases if it dies)."""
        return [r[0] for r in self._all("SELECT id FROM orchestrator_tasks WHERE state = 'claimed' AND lease_host = %s"
                                        " ORDER BY id", (self.host,))]

    def sweep_temp_files(self, states: Iterable[str], max_age: float) -> int:
        return 0  # a transaction leaves nothing half-written behind

    # Nothing is quarantined here: every row was written whole by a transaction.
    def invalid_files(self) -> list[tuple[str, str]]:
        return []

    def find_invalid(self, task_id: str) -> str | None:
        return None

    def readmit(self, name: str, *, actor: str) -> tuple[str, str]:
        raise NotFoundError(f"nothing is quarantined in {self.where}")

    def look_again(self, *, actor: str = "tick") -> list[str]:
        return []

    def quarantine(self, name: str, state: str, problem: str, *, actor: str = "tick") -> None:
        return None

    def states_of(self, task_ids: Iterable[str]) -> dict[str, str]:
        rows = self._all("SELECT id, state FROM orchestrator_tasks WHERE id = ANY(%s)", (list(task_ids),))
        return dict(rows)

    def stamps(self) -> dict[str, tuple[str, int, int]]:
        """Every task id with its state and a stamp that changes at every write (the import's check)."""
        return {task_id: (state, int(version), 0)
                for task_id, state, version in self._all("SELECT id, state, version FROM orchestrator_tasks")}

    def check_case(self, task_ids: Iterable[str], known: dict[str, str] | None = None) -> None:
        """Refuse ids that differ from an existing task's only in case (the unique index refuses them too)."""
        wanted = list(task_ids)
        rows = self._all("SELECT id FROM orchestrator_tasks WHERE lower(id) = ANY(%s)", ([i.lower() for i in wanted],))
        existing = {r[0].lower(): r[0] for r in rows}
        for task_id in wanted:
            other = existing.get(task_id.lower())
            if other is not None and other != task_id:
                raise StateError(f"task id '{task_id}' differs from the existing task '{other}' only in case; "
                                 "choose an id that differs in more than case")

    def start_state(self, task: Task) -> str:
        done = self.states_of(task.depends_on)
        return "blocked" if any(done.get(d) != "done" for d in task.depends_on) else "incoming"

    # ---- creating -----------------------------------------------------------------

    def enqueue(self, task: Task, *, actor: str = "person", state: str | None = None,
                reason: str | None = None) -> str:
        """Add a new task; refuse an id that exists in any state (or differs from one only in case)."""
        return self._create([(task, state)], actor=actor, reason=reason)[0][1]

    def enqueue_many(self, tasks: list[tuple[Task, str]], *, actor: str) -> list[str]:
        """Add many new tasks in one transaction: all of them or, on a refusal, none."""
        return [task_id for task_id, _ in self._create(list(tasks), actor=actor)]

    def _create(self, tasks: list[tuple[Task, str | None]], *, actor: str,
                reason: str | None = None) -> list[tuple[str, str]]:
        now = utcnow()
        made: list[tuple[str, str]] = []
        with self._txn() as conn, conn.cursor() as cur:
            deps = {d for task, _ in tasks for d in task.depends_on}
            done = {r[0] for r in cur.execute("SELECT id FROM orchestrator_tasks WHERE id = ANY(%s) AND state = 'done'",
                                              (list(deps),))}
            for task, state in tasks:
                waiting = [d for d in task.depends_on if d not in done]
                state = state or ("blocked" if waiting else "incoming")
                if state not in ("incoming", "blocked"):
                    raise StateError(f"a new task goes to incoming/ or blocked/, not {state}/")
                if state == "incoming" and waiting:
                    raise StateError(f"task '{task.id}' waits for {', '.join(waiting)}: it starts in blocked/, "
                                     "not incoming/")
                task = task if task.created else task.with_updates(created=now)
                self._insert(cur, task, state)
                made.append((task.id, state))
                why = reason or ("waiting for dependencies" if state == "blocked" and waiting else None)
                cur.execute(INSERT, row_of(record_of("enqueued", task=task.id, actor=actor, now=now, fields={
                    "to": state, "title": task.title, "reason": why, "role": task.role, "priority": task.priority,
                    "agent": task.agent})))
            if any(state == "incoming" for _, state in made):
                cur.execute("SELECT pg_notify(%s, 'incoming')", (CHANNEL,))
            crash_point("enqueue_before_publish")  # killed here: the transaction never commits
        return made

    def _insert(self, cur: psycopg.Cursor, task: Task, state: str) -> None:
        other = cur.execute("SELECT id FROM orchestrator_tasks WHERE lower(id) = lower(%s)", (task.id,)).fetchone()
        if other is not None:
            if other[0] == task.id:
                where = cur.execute("SELECT state FROM orchestrator_tasks WHERE id = %s", (task.id,)).fetchone()
                raise StateError(f"a task with id '{task.id}' already exists in {where[0] if where else '?'}/ "
                                 "(choose another --id)")
            raise StateError(f"task id '{task.id}' differs from the existing task '{other[0]}' only in case; "
                             "choose an id that differs in more than case")
        try:
            cur.execute("INSERT INTO orchestrator_tasks (id, state, text, priority, role, agent, created) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                        (task.id, state, taskfmt.render(task), task.priority, task.role, task.agent, task.created))
        except psycopg.errors.UniqueViolation as exc:  # made by another process since the look above
            raise StateError(f"a task with id '{task.id}' already exists (choose another --id)") from exc

    # ---- moving -------------------------------------------------------------------

    def claim(self, task_id: str, prepare: Callable[[Task, int], None], *, actor: str = "tick",
              src: str = "incoming", pid: int | None = None) -> Task | None:
        """Move task_id from src to claimed if nobody else holds or took it; None when we lost.

        prepare(task, fence) runs while the row is locked, before the claim commits (it writes the
        attempt's spec with the fence); if it raises, nothing is claimed."""
        with self.task_lock(task_id, blocking=False) as locked:
            if not locked:
                return None
            with self._txn() as conn:
                row = conn.execute("SELECT text, fence FROM orchestrator_tasks WHERE id = %s AND state = %s "
                                        "FOR UPDATE SKIP LOCKED", (task_id, src)).fetchone()
                if row is None:
                    return None
                task, fence = self.parse_text(task_id, row[0]), int(row[1]) + 1
                prepare(task, fence)
                conn.execute(
                    "UPDATE orchestrator_tasks SET state = 'claimed', fence = %s, moved_at = now(), version = version + 1,"
                    " lease_host = %s, lease_pid = %s, lease_started = now(),"
                    " lease_expires = now() + make_interval(secs => %s) WHERE id = %s",
                    (fence, self.host, pid or os.getpid(), self.lease_seconds, task_id))
                conn.execute(INSERT, row_of(record_of("claimed", task=task_id, actor=actor, now=None,
                                                           fields={"from": src, "to": "claimed", "fence": fence,
                                                                   "host": self.host})))
        return task

    def bind_claim(self, task_id: str, fence: int) -> None:
        """This process works for that claim (a runner): every move of the task out of claimed/ it
        makes (settle, accept, reject, a breakdown) carries the claim's fence, so none of them can
        move a claim another runner holds now."""
        self._bound[task_id] = fence

    def transition(self, task_id: str, src: str, dst: str, *, actor: str, reason: str | None = None,
                   event: str | None = None, updates: dict | None = None,
                   before_move: Callable[[Task], dict[str, Any] | None] | None = None, fence: int | None = None,
                   **details: Any) -> Task | None:
        """Move task_id from src to dst with its updates; None if it is not in src (or, with a
        fence, if its claim is not that one any more: a stale runner's late result)."""
        if fence is None and src == "claimed":
            fence = self._bound.get(task_id)
        with self.task_lock(task_id), self._txn() as conn:
            row = conn.execute("SELECT text, fence FROM orchestrator_tasks WHERE id = %s AND state = %s FOR UPDATE",
                                    (task_id, src)).fetchone()
            if row is None:
                return None
            if fence is not None and int(row[1]) != fence:
                conn.execute(INSERT, row_of(record_of("stale_result_refused", task=task_id, actor=actor, now=None,
                                                           fields={"fence": fence, "current_fence": int(row[1])})))
                return None
            task = self.parse_text(task_id, row[0])
            if before_move is not None:
                details.update(before_move(task) or {})
            new = task.with_updates(**updates) if updates else task
            leaving = src == "claimed" and dst != "claimed"
            conn.execute(
                "UPDATE orchestrator_tasks SET state = %s, text = %s, priority = %s, role = %s, agent = %s,"
                " moved_at = now(), version = version + 1" + (
                    ", lease_host = NULL, lease_pid = NULL, lease_started = NULL, lease_expires = NULL"
                    if leaving else "") + " WHERE id = %s",
                (dst, taskfmt.render(new), new.priority, new.role, new.agent, task_id))
            conn.execute(INSERT, row_of(record_of(event or "moved", task=task_id, actor=actor, now=None,
                                                       fields={"reason": reason, "from": src, "to": dst, **details})))
            if dst == "incoming":
                conn.execute("SELECT pg_notify(%s, 'incoming')", (CHANNEL,))
            if src == "claimed":
                crash_point("settle_after_rewrite")  # killed here: nothing moved, the runner's result stays
        return new

    def revise(self, task_id: str, src: str, changes: dict[str, Any], *, actor: str,
               reason: str | None = None) -> Task | None:
        """As the file queue's: what a plan wrote of a task still waiting in incoming/ or blocked/."""
        check_revision(src, changes)
        deps = changes.get("depends_on", ())
        done = self.states_of(deps)
        dst = "blocked" if any(done.get(d) != "done" for d in deps) else src
        return self.transition(task_id, src, dst, actor=actor, event="revised", reason=reason, updates=changes,
                               fields=sorted(changes))

    # ---- leases -------------------------------------------------------------------

    def heartbeat(self, task_id: str, fence: int, *, pid: int | None = None) -> bool | None:
        """Renew the lease of this claim: True; False when the claim is not ours any more; None when
        the database cannot be reached now (the runner keeps its agent going and tries again)."""
        try:
            row = self._one("UPDATE orchestrator_tasks SET lease_expires = now() + make_interval(secs => %s),"
                            " lease_pid = coalesce(%s, lease_pid) WHERE id = %s AND state = 'claimed' AND fence = %s"
                            " RETURNING id", (self.lease_seconds, pid, task_id, fence))
        except (psycopg.OperationalError, ConfigError, QueueUnavailableError):
            return None
        return row is not None

    def holds_claim(self, task_id: str, fence: int) -> bool:
        """Is this claim (its fence) still the task's claim?"""
        return self._one("SELECT 1 FROM orchestrator_tasks WHERE id = %s AND state = 'claimed' AND fence = %s",
                         (task_id, fence)) is not None

    def lease(self, task_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT lease_host, lease_pid, lease_started, lease_expires, fence FROM orchestrator_tasks"
                        " WHERE id = %s AND state = 'claimed'", (task_id,))
        if row is None:
            return None
        return dict(zip(("host", "pid", "started", "expires", "fence"), row, strict=True))

    def expire_leases(self, *, actor: str = "tick", now: datetime | None = None,
                      max_attempts: int | None = None) -> list[str]:
        """Take back the claims whose lease ran out (their machine died or lost the database): the
        attempt counts, as a runner that died does on one machine, and the task goes back to
        incoming/ (failed/ once it used its attempts); their ids. The expiry is decided on the
        locked row itself, so a lease renewed a moment ago is never taken; a row another transaction
        holds is left for the next tick. The next claim raises the fence: the old runner's writes
        are refused."""
        sent = []
        with self._txn() as conn:
            rows = conn.execute("SELECT id, text, lease_host FROM orchestrator_tasks WHERE state = 'claimed' AND "
                                "lease_expires < coalesce(%s, now()) FOR UPDATE SKIP LOCKED", (now,)).fetchall()
            for task_id, text, host in rows:
                task = self.parse_text(task_id, text)
                attempts = task.attempts + 1
                why = f"the runner's lease on {host} ran out (its machine or its connection died)"
                dst = "failed" if attempts >= (task.max_attempts or max_attempts or 1 << 30) else "incoming"
                new = task.with_updates(attempts=attempts, last_error=why)
                conn.execute("UPDATE orchestrator_tasks SET state = %s, text = %s, moved_at = now(), version = version + 1,"
                             " lease_host = NULL, lease_pid = NULL, lease_started = NULL, lease_expires = NULL"
                             " WHERE id = %s", (dst, taskfmt.render(new), task_id))
                conn.execute(INSERT, row_of(record_of("lease_expired", task=task_id, actor=actor, now=None, fields={
                    "reason": why, "from": "claimed", "to": dst, "attempts": attempts})))
                sent.append(task_id)
            if sent:
                conn.execute("SELECT pg_notify(%s, 'incoming')", (CHANNEL,))
        return sent

    def note_daemon(self, pid: int, started: float) -> None:
        """This machine's daemon is alive (each tick): status lists every machine's daemons."""
        with self._txn() as conn:
            machines.note_daemon(conn, self.host, pid, started)

    def machines(self) -> list[dict[str, Any]]:
        """Every machine with a daemon seen in the last day or a claim: its daemons and running tasks."""
        with self._txn() as conn:
            return machines.every_machine(conn)

    # ---- locks and news (session-level connections: store/pg/sessions.py) ------------

    @contextmanager
    def task_lock(self, task_id: str, blocking: bool = True) -> Iterator[bool]:
        """Hold the task's advisory lock; yields False when non-blocking and someone else holds it."""
        with self.sessions.hold(task_id, blocking) as got:
            yield got

    @contextmanager
    def task_locks(self, task_ids: Iterable[str]) -> Iterator[None]:
        with ExitStack() as stack:
            for task_id in sorted(set(task_ids)):
                stack.enter_context(self.task_lock(task_id))
            yield

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """One holder across every machine (the merge queue's lander): yields False when another has it."""
        with self.sessions.hold(f"orchestrator:{name}", blocking=False) as got:
            yield got

    def watch(self, on_news: Callable[[], None], stop: threading.Event, *, check_seconds: float = 1.0) -> None:
        """Call on_news() at every NOTIFY of a task entering incoming/, until stop is set (a thread's loop)."""
        listen(self.url, CHANNEL, on_news, stop, check_seconds=check_seconds)
