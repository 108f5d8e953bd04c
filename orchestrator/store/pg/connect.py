"""Connecting to the queue's database, and the schema's migrations.

Settings come from the URL (`queue_url`) and the standard PG* variables libpq reads (PGHOST,
PGPASSWORD, PGSSLMODE, ...), which fill what the URL leaves out. A password is never logged or
shown: `shown()` gives the URL without it.

Migrations are the plain SQL files in migrations/ (NNNN_name.sql), applied in order, each in a
transaction with its version recorded in orchestrator_schema; several daemons starting at once
take turns on an advisory lock. A database whose schema is newer than this orchestrator knows is
refused at start, with the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from urllib.parse import urlsplit, urlunsplit

import psycopg

from orchestrator.base.errors import ConfigError, QueueUnavailableError

MIGRATE_LOCK = 0x6F726368  # "orch": the advisory lock migrations take turns on
_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    found = []
    for entry in resources.files("orchestrator.store.pg").joinpath("migrations").iterdir():
        match = _NAME.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def shown(url: str) -> str:
    """The URL as it may appear in logs and messages: no password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def connect(url: str, *, autocommit: bool = False, timeout: float = 10) -> psycopg.Connection:
    """A connection, or a ConfigError that names the database (never its password) and the fix."""
    try:
        # Keepalives: a half-open connection (a partition) is noticed in about half a minute, not in the
        # kernel's quarter of an hour; its statements then fail instead of hanging a heartbeat or a tick.
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=max(1, int(timeout)), keepalives=1,
                               keepalives_idle=10, keepalives_interval=5, keepalives_count=3, tcp_user_timeout=30000)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"queue_url {shown(url)}: cannot connect ({first}); check the URL and the PG* "
                          "variables, and that the server runs") from exc


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply the migrations this database has not had; the names of those applied."""
    applied = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS orchestrator_schema (version integer PRIMARY KEY, "
                     "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        have = {row[0] for row in conn.execute("SELECT version FROM orchestrator_schema")}
        known = migrations()
        newer = sorted(have - {m.version for m in known})
        if newer:
            raise ConfigError(f"the queue's database has schema version {newer[-1]}, newer than this orchestrator "
                              f"knows ({known[-1].version if known else 0}); upgrade the orchestrator on this machine")
        for migration in known:
            if migration.version in have:
                continue
            conn.execute(migration.sql)
            conn.execute("INSERT INTO orchestrator_schema (version, name) VALUES (%s, %s)",
                         (migration.version, migration.name))
            applied.append(migration.name)
    return applied


def check_schema(conn: psycopg.Connection) -> None:
    """Refuse a database that is not migrated to what this orchestrator knows (at start-up)."""
    known = migrations()
    try:
        with conn.transaction():
            have = {row[0] for row in conn.execute("SELECT version FROM orchestrator_schema")}
    except psycopg.errors.UndefinedTable:
        have = set()
    missing = [m.name for m in known if m.version not in have]
    if missing:
        raise ConfigError(f"the queue's database lacks migrations {', '.join(missing)}; run "
                          "'python -m orchestrator init' (or any command that writes) once to apply them")


def unreachable(where: str, exc: Exception, *, begun: bool) -> QueueUnavailableError:
    """The error for a step the database could not take: begun says whether it may have happened."""
    said = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    outcome = ("this step may or may not have happened (the connection died at its end)" if begun
               else "nothing of this step happened")
    return QueueUnavailableError(f"{where}: the database cannot be reached ({said}); {outcome}; "
                                 "the next step connects again")
