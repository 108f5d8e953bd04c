"""The queue's long-lived sessions beside its transactions: session advisory locks, each held on a
connection of the locking thread, and LISTEN for news.

An advisory lock is PostgreSQL's, so it excludes every process of every machine; the server lets it
go when its connection dies (as the kernel drops a flock). A session lock stacks within its session,
so the threads of one process also take a lock of their own first, and a thread that holds the key
already goes on (re-entrant, as the file queue's task locks are).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from orchestrator.base import log
from orchestrator.base.errors import ConfigError, QueueUnavailableError
from orchestrator.store.pg.connect import connect, unreachable

_log = log.get("orchestrator.pg")
LISTEN_RETRY_SECONDS = 5


class AdvisoryLocks:
    def __init__(self, url: str, where: str):
        self.url, self.where = url, where
        self._local = threading.local()  # each thread's lock connection and the keys it holds
        self._in_process: dict[str, threading.Lock] = {}

    def _conn(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and conn.broken and not self._local.held:  # holding nothing: a new one is the same
            conn.close()
        if conn is None or conn.closed:
            try:
                conn = self._local.conn = connect(self.url, autocommit=True)
            except ConfigError as exc:
                raise unreachable(self.where, exc, begun=False) from exc
            self._local.held = set()
        return conn

    def _call(self, sql: str, key: str) -> bool:
        """One advisory-lock call on this thread's lock connection; True if it returned true."""
        try:
            row = self._conn().execute(sql, (key,)).fetchone()
        except psycopg.OperationalError as exc:  # (a lock held on that connection is gone with it)
            raise unreachable(self.where, exc, begun=False) from exc
        return bool(row and row[0] is not False)

    @contextmanager
    def hold(self, key: str, blocking: bool) -> Iterator[bool]:
        """Hold key's lock; False when non-blocking and someone else holds it."""
        self._conn()
        held: set[str] = self._local.held
        if key in held:
            yield True
            return
        local = self._in_process.setdefault(key, threading.Lock())
        if not local.acquire(blocking):
            yield False
            return
        try:
            if blocking:
                self._call("SELECT pg_advisory_lock(hashtextextended(%s, 0))", key)
            elif not self._call("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", key):
                yield False
                return
            held.add(key)
            try:
                yield True
            finally:
                held.discard(key)
                try:
                    self._call("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", key)
                except QueueUnavailableError:
                    pass  # the connection died: the server let the lock go with it
        finally:
            local.release()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()


def listen(url: str, channel: str, on_news: Callable[[], None], stop: threading.Event, *,
           check_seconds: float = 1.0) -> None:
    """Call on_news() at every NOTIFY on channel until stop is set, connecting again after a loss
    (the tick is the safety net meanwhile); once at every (re)connection, for what came between."""
    while not stop.is_set():
        try:
            with connect(url, autocommit=True) as conn:
                conn.execute(f"LISTEN {channel}")
                on_news()
                while not stop.is_set():
                    for _ in conn.notifies(timeout=check_seconds, stop_after=1):
                        on_news()
        except (psycopg.OperationalError, ConfigError) as exc:
            _log.warning("notify_listen_lost", error=str(exc).splitlines()[0] if str(exc) else "",
                         retry_in=LISTEN_RETRY_SECONDS)
            stop.wait(LISTEN_RETRY_SECONDS)
