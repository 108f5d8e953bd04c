"""TaskIndex: parsed task summaries keyed by file identity and modification time.

A tick lists a directory and stats its entries; only a file whose (inode, mtime, size)
changed is read and parsed again. The daemon keeps the index in memory; a single
`--once` tick loads it from the state directory and saves it back when it changed.
It is a cache: deleting it costs one full read, never a task.
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

from orchestrator.base import durable, log
from orchestrator.base.errors import TaskFileError
from orchestrator.store.queue import Queue
from orchestrator.store.records import STATES, SUFFIX, Entry, entry_of

FORMAT = 3
FULL_SCAN_SECONDS = 10.0
_log = log.get("orchestrator.index")

Key = tuple[int, int, int]


class TaskIndex:
    def __init__(self, queue: Queue, persist_path: Path | None = None):
        self.queue = queue
        self.persist_path = persist_path
        # state -> file name -> (key, Entry or the parse error's message)
        self._files: dict[str, dict[str, tuple[Key, Entry | str]]] = {}
        self._dirty = False
        self._last_full: dict[str, float] = {}
        self.generation: dict[str, int] = {}  # bumped whenever a state's entries change
        if persist_path is not None:
            self._load()

    def scan(self, state: str, full: bool | None = None) -> tuple[list[Entry], list[tuple[str, str]]]:
        """All parseable entries in state/, and (file name, problem) for files that cannot be tasks.

        The fast pass trusts a file whose name and inode are unchanged (readdir gives the inode for
        free, and every rewrite we make replaces the file). A full pass, which also compares mtime
        and size, runs every FULL_SCAN_SECONDS to notice files edited in place by hand.
        """
        now = time.monotonic()
        if full is None:
            full = now - self._last_full.get(state, 0.0) >= FULL_SCAN_SECONDS
        if full:
            self._last_full[state] = now
        known = self._files.setdefault(state, {})
        seen: dict[str, tuple[Key, Entry | str]] = {}
        entries: list[Entry] = []
        broken: list[tuple[str, str]] = []
        changed = False
        try:
            listing = os.scandir(self.queue.dir(state))
        except FileNotFoundError:
            return [], []
        with listing:
            # Dot-files are ours (temporary files) or the user's (.gitkeep); a hidden *.md is a mistake.
            dirents = [d for d in listing if d.name[0] != "." or d.name.endswith(SUFFIX)]
        for dirent in dirents:
            name = dirent.name
            cached = known.get(name)
            if not full and cached is not None and cached[0][0] == dirent.inode():
                found = cached
            else:
                examined = self._examine(dirent, state, cached)
                if examined is None:
                    continue
                found = examined
                changed = changed or examined is not cached
            seen[name] = found
            value = found[1]
            if isinstance(value, Entry):
                entries.append(value)
            else:
                broken.append((name, value))
        if changed or len(seen) != len(known):
            self._dirty = True
            self.generation[state] = self.generation.get(state, 0) + 1
        self._files[state] = seen
        return entries, broken

    def _examine(self, dirent: os.DirEntry, state: str, cached) -> tuple[Key, Entry | str] | None:
        """(key, summary or problem) for one file, parsing it only if it changed."""
        try:
            info = dirent.stat(follow_symlinks=False)
        except FileNotFoundError:
            return None  # moved away between listing and stat
        name, key = dirent.name, (info.st_ino, info.st_mtime_ns, info.st_size)
        if name.startswith("."):
            return key, f"{dirent.path}: a hidden file; task files are named <id>{SUFFIX} and ids start with a letter or digit"
        if not name.endswith(SUFFIX):
            return key, f"{dirent.path}: not a task file (task files are named <id>{SUFFIX})"
        if stat.S_ISLNK(info.st_mode):
            return key, f"{dirent.path}: a symbolic link; task files must be regular files (links are never followed)"
        if cached is not None and cached[0] == key:
            return cached
        value = self._parse(Path(dirent.path), state, info.st_mtime)
        return None if value is None else (key, value)

    def _parse(self, path: Path, state: str, mtime: float) -> Entry | str | None:
        try:
            entry = entry_of(self.queue.read_file(path), state, mtime)
        except FileNotFoundError:
            return None
        except TaskFileError as exc:
            return str(exc)
        except OSError as exc:
            return f"{path}: cannot read: {exc.strerror}"
        # A new or changed file: is its id taken by a task in another state?
        for other in STATES:
            if other != state and os.path.lexists(self.queue.path(other, entry.id)):
                return (f"{path}: duplicate id '{entry.id}': a task with this id is already in {other}/ "
                        "(give this one another id: rename the file)")
        return entry

    def save(self) -> None:
        if self.persist_path is None or not self._dirty:
            return
        data = {"format": FORMAT, "states": {
            state: {name: [list(key), list(value) if isinstance(value, Entry) else {"error": value}]
                    for name, (key, value) in files.items()}
            for state, files in self._files.items()}}
        self.persist_path.parent.mkdir(parents=True, exist_ok=True)
        durable.write_cache(self.persist_path, json.dumps(data, separators=(",", ":")))
        self._dirty = False

    def _load(self) -> None:
        """Read the persisted index; a cache that does not fit this version is dropped, never trusted."""
        try:
            assert self.persist_path is not None, "only called when the index is persisted"
            data = json.loads(self.persist_path.read_bytes())
            if data.get("format") != FORMAT:
                return
            for state, files in data["states"].items():
                self._files[state] = {
                    name: (tuple(key), value["error"] if isinstance(value, dict) else _entry(value))
                    for name, (key, value) in files.items()}
        except FileNotFoundError:
            return
        except (ValueError, KeyError, TypeError) as exc:
            _log.warning("index_unreadable", path=str(self.persist_path), error=str(exc))
            self._files = {}


_TUPLES = frozenset(("depends_on", "subtasks"))


def _entry(values: list) -> Entry:
    if len(values) != len(Entry._fields):
        raise ValueError(f"an index entry has {len(values)} fields, not {len(Entry._fields)}")
    return Entry._make(tuple(v) if name in _TUPLES else v for name, v in zip(Entry._fields, values, strict=True))
