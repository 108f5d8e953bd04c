"""The event journal: append-only JSON lines, one event per task transition or decision.

Each event is one write() to a file opened with O_APPEND, so lines from concurrent processes
(ticks, runners, CLI commands) never interleave. When the file passes max_bytes it is renamed
to a timestamped archive (events-<time>.jsonl) under a lock; an appender that still holds the
old file writes into the archive, so no line is lost, and archives are never deleted.
Readers see the archives in order, then the current file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator.base.clock import iso, utcnow
from orchestrator.base.locks import FileLock
from orchestrator.base.redact import redact

DEFAULT_MAX_BYTES = 20 * 1024 * 1024


class Journal:
    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_BYTES):
        self.path = path
        self.max_bytes = max_bytes

    def append(self, event: str, *, task: str | None = None, actor: str = "tick",
               now: datetime | None = None, **fields: Any) -> dict:
        record = {"ts": iso(now or utcnow()), "event": event, "actor": actor}
        if task is not None:
            record["task"] = task
        record.update({k: redact(v, k) for k, v in fields.items() if v is not None})
        line = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size > self.max_bytes:
            self.rotate()
        return record

    def append_many(self, events: list[dict[str, Any]], now: datetime | None = None) -> None:
        """Several events (each with 'event', 'actor', maybe 'task') in one write."""
        if not events:
            return
        ts = iso(now or utcnow())
        lines = []
        for fields in events:
            record = {"ts": ts, "event": fields["event"], "actor": fields["actor"]}
            if fields.get("task") is not None:
                record["task"] = fields["task"]
            record.update({k: redact(v, k) for k, v in fields.items()
                           if v is not None and k not in ("event", "actor", "task")})
            lines.append(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            data = memoryview("".join(lines).encode())
            while data:
                data = data[os.write(fd, data):]
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size > self.max_bytes:
            self.rotate()

    def rotate(self) -> Path | None:
        with FileLock(self.path.parent / "locks" / "journal.lock"):
            try:
                if self.path.stat().st_size <= self.max_bytes:
                    return None  # another process rotated it first
            except FileNotFoundError:
                return None
            stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
            archive = self.path.with_name(f"{self.path.stem}-{stamp}{self.path.suffix}")
            os.rename(self.path, archive)
            return archive

    def files(self) -> list[Path]:
        archives = sorted(self.path.parent.glob(f"{self.path.stem}-*{self.path.suffix}"))
        return archives + ([self.path] if self.path.exists() else [])

    def read(self, since: datetime | None = None) -> Iterator[dict]:
        for path in self.files():
            try:
                fh = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 (closed by the with below)
            except FileNotFoundError:
                continue
            with fh:
                for line in fh:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line cut by a crash mid-write carries nothing we can use
                    if since is None or record.get("ts", "") >= iso(since):
                        yield record

    def read_new(self, cursor: dict | None) -> tuple[list[dict], dict | None]:
        """The events written since cursor (where the last call left off: this file's inode and the
        offset of its first unread byte), and the cursor after them. A cursor of None starts at the
        end (history is not news); a rotation since is followed into the archive. Only whole lines."""
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            return [], cursor  # nothing written yet: the first event will be news
        if cursor is None:
            return [], {"inode": current.st_ino, "offset": current.st_size}
        lines: list[bytes] = []
        if cursor.get("inode") != current.st_ino:  # rotated: finish the archive we were reading
            for archive in self.files()[:-1]:
                if os.stat(archive).st_ino == cursor.get("inode"):
                    lines += _read_from(archive, cursor.get("offset", 0))
            offset = 0
        else:
            offset = cursor.get("offset", 0)
        fresh = _read_from(self.path, offset)
        lines += fresh
        events = []
        for line in lines:
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events, {"inode": current.st_ino, "offset": offset + sum(len(line) for line in fresh)}


def _read_from(path: Path, offset: int) -> list[bytes]:
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return []
    end = data.rfind(b"\n") + 1  # a line still being written is left for next time
    return data[:end].splitlines(keepends=True)
