"""The event journal as a table: the same records as store/journal.py's JSON lines.

A queue move writes its event in the move's own transaction (PgQueue), so the journal never
says a task moved when it did not, nor misses a move that happened. Other events (a runner
started, a decision) are one INSERT each.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from orchestrator.base.clock import iso, utcnow
from orchestrator.base.redact import redact

INSERT = "INSERT INTO orchestrator_events (ts, event, actor, task, fields) VALUES (%s, %s, %s, %s, %s)"


def record_of(event: str, *, task: str | None, actor: str, now: datetime | None,
              fields: dict[str, Any]) -> dict[str, Any]:
    """The record as the file journal writes it (and as `logs --json` and stats read it)."""
    record: dict[str, Any] = {"ts": iso(now or utcnow()), "event": event, "actor": actor}
    if task is not None:
        record["task"] = task
    record.update({k: redact(v, k) for k, v in fields.items() if v is not None})
    return record


def row_of(record: dict[str, Any]) -> tuple:
    rest = {k: v for k, v in record.items() if k not in ("ts", "event", "actor", "task")}
    return (record["ts"], record["event"], record["actor"], record.get("task"), Jsonb(rest, dumps=_dumps))


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)  # str() for what JSON has no type for


class PgJournal:
    def __init__(self, txn: Callable[[], AbstractContextManager[psycopg.Connection]]):
        self.txn = txn  # the queue's: a transaction on its connection, connected again if it broke

    def append(self, event: str, *, task: str | None = None, actor: str = "tick",
               now: datetime | None = None, **fields: Any) -> dict:
        record = record_of(event, task=task, actor=actor, now=now, fields=fields)
        with self.txn() as conn:
            conn.execute(INSERT, row_of(record))
        return record

    def append_many(self, events: list[dict[str, Any]], now: datetime | None = None) -> None:
        if not events:
            return
        records = [record_of(e["event"], task=e.get("task"), actor=e["actor"], now=now,
                             fields={k: v for k, v in e.items() if k not in ("event", "actor", "task")})
                   for e in events]
        with self.txn() as conn, conn.cursor() as cur:
            cur.executemany(INSERT, [row_of(r) for r in records])

    def read(self, since: datetime | None = None) -> Iterator[dict]:
        """Every event in the order written (since a time, if given)."""
        with self.txn() as conn:
            rows = conn.execute(
                "SELECT ts, event, actor, task, fields FROM orchestrator_events "
                + ("WHERE ts >= %s " if since else "") + "ORDER BY seq", (since,) if since else ()).fetchall()
        for row in rows:
            yield _record(*row)

    def read_new(self, cursor: dict | None) -> tuple[list[dict], dict]:
        """The events of the transactions that finished since cursor, each transaction's once.

        The cursor is the oldest transaction still running at the last look (xmin): every event of
        an older transaction was read then. This look reads the events of transactions from that
        one up to the oldest running now, which all finished. None starts now (history is not news)."""
        with self.txn() as conn:
            row = conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text").fetchone()
            xmin = row[0] if row else "0"
            if cursor is None or "xmin" not in cursor:
                return [], {"xmin": xmin}
            rows = conn.execute("SELECT ts, event, actor, task, fields FROM orchestrator_events WHERE xid >= %s::xid8 "
                                "AND xid < %s::xid8 ORDER BY seq", (cursor["xmin"], xmin)).fetchall()
        return [_record(*row) for row in rows], {"xmin": xmin}


def _record(ts: datetime, event: str, actor: str, task: str | None, fields: dict[str, Any]) -> dict[str, Any]:
    """A row of the table as the file journal's record."""
    record: dict[str, Any] = {"ts": iso(ts), "event": event, "actor": actor}
    if task is not None:
        record["task"] = task
    record.update(fields)
    return record
