"""The event journal: append-only JSON lines, one event per task transition or decision.

Each event is one write() to a file opened with O_APPEND, so lines from concurrent
processes (ticks, runners, CLI commands) never interleave.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator.clock import iso, utcnow
from orchestrator.redact import redact


class Journal:
    def __init__(self, path: Path):
        self.path = path

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
        finally:
            os.close(fd)
        return record

    def read(self) -> Iterator[dict]:
        try:
            fh = open(self.path, encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return
        with fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a crash mid-write carries nothing we can use
