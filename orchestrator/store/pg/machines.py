"""The machines of a shared queue, for status: each one's daemons (as each tick last said it was
alive) and the tasks its runners hold (from the claims' leases)."""

from __future__ import annotations

from typing import Any

import psycopg

from orchestrator.base.clock import iso

FORGET_AFTER = "1 day"  # a daemon not seen for this long is no longer listed


def note_daemon(conn: psycopg.Connection, machine: str, pid: int, started: float) -> None:
    conn.execute("INSERT INTO orchestrator_daemons (machine, pid, started, seen) VALUES (%s, %s, to_timestamp(%s), "
                 "now()) ON CONFLICT (machine, pid) DO UPDATE SET seen = now()", (machine, pid, started))
    conn.execute(f"DELETE FROM orchestrator_daemons WHERE seen < now() - interval '{FORGET_AFTER}'")


def every_machine(conn: psycopg.Connection) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}

    def machine(name: str) -> dict[str, Any]:
        return found.setdefault(name, {"machine": name, "daemons": [], "running": []})

    for name, pid, started, seen in conn.execute("SELECT machine, pid, started, seen FROM orchestrator_daemons "
                                                 "ORDER BY machine, seen DESC"):
        machine(name)["daemons"].append({"pid": pid, "started": iso(started), "seen": iso(seen)})
    for task_id, host, pid, started, expires in conn.execute(
            "SELECT id, lease_host, lease_pid, lease_started, lease_expires FROM orchestrator_tasks "
            "WHERE state = 'claimed' ORDER BY id"):
        machine(host or "?")["running"].append({"task": task_id, "pid": pid,
                                                "since": iso(started) if started else None,
                                                "lease_expires": iso(expires) if expires else None})
    return sorted(found.values(), key=lambda m: m["machine"])
