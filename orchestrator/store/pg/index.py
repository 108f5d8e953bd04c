"""The tick's index of a state on PostgreSQL: the same Entries TaskIndex gives for the file queue.

A row is parsed again only when its version changed (every write raises it), so a tick over
thousands of waiting tasks parses only what moved since the last one."""

from __future__ import annotations

from orchestrator.base.errors import TaskFileError
from orchestrator.store.pg.queue import PgQueue
from orchestrator.store.records import Entry, entry_of


class PgIndex:
    def __init__(self, queue: PgQueue):
        self.queue = queue
        self._rows: dict[str, dict[str, tuple[int, Entry | str]]] = {}  # state -> id -> (version, entry or error)
        self.generation: dict[str, int] = {}  # bumped whenever a state's entries change

    def scan(self, state: str, full: bool | None = None) -> tuple[list[Entry], list[tuple[str, str]]]:
        known = self._rows.get(state, {})
        seen: dict[str, tuple[int, Entry | str]] = {}
        for task_id, version, text, moved in self.queue.rows(state):
            cached = known.get(task_id)
            if cached is not None and cached[0] == version:
                seen[task_id] = cached
                continue
            try:
                seen[task_id] = (version, entry_of(self.queue.parse_text(task_id, text), state, moved))
            except TaskFileError as exc:
                seen[task_id] = (version, str(exc))
        if seen.keys() != known.keys() or any(seen[k][0] != known[k][0] for k in seen):
            self.generation[state] = self.generation.get(state, 0) + 1
        self._rows[state] = seen
        entries = [value for _, value in seen.values() if isinstance(value, Entry)]
        broken = [(task_id, value) for task_id, (_, value) in seen.items() if isinstance(value, str)]
        return entries, broken

    def save(self) -> None:
        """Nothing to persist: the database is the index's source."""
