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
from pathlib import Path

from orchestrator import durable, log
from orchestrator.errors import TaskFileError
from orchestrator.queue import STATES, SUFFIX, Entry, Queue, entry_of

FORMAT = 3
_log = log.get("orchestrator.index")

Key = tuple[int, int, int]


class TaskIndex:
    def __init__(self, queue: Queue, persist_path: Path | None = None):
        self.queue = queue
        self.persist_path = persist_path
        # state -> file name -> (key, Entry or the parse error's message)
        self._files: dict[str, dict[str, tuple[Key, Entry | str]]] = {}
        self._dirty = False
        if persist_path is not None:
            self._load()

    def scan(self, state: str) -> tuple[list[Entry], list[tuple[str, str]]]:
        """All parseable entries in state/, and (file name, problem) for files that cannot be tasks."""
        known = self._files.setdefault(state, {})
        seen: dict[str, tuple[Key, Entry | str]] = {}
        entries: list[Entry] = []
        broken: list[tuple[str, str]] = []
        try:
            listing = os.scandir(self.queue.dir(state))
        except FileNotFoundError:
            return [], []
        with listing:
            # Dot-files are ours (temporary files) or the user's (.gitkeep); a hidden *.md is a mistake.
            dirents = [d for d in listing if not d.name.startswith(".") or d.name.endswith(SUFFIX)]
        for dirent in dirents:
            try:
                info = dirent.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # moved away between listing and stat
            if dirent.name.startswith("."):
                broken.append((dirent.name, f"{dirent.path}: a hidden file; task files are named <id>{SUFFIX} "
                                            "and ids start with a letter or digit"))
                continue
            if not dirent.name.endswith(SUFFIX):
                broken.append((dirent.name, f"{dirent.path}: not a task file (task files are named <id>{SUFFIX})"))
                continue
            if stat.S_ISLNK(info.st_mode):
                broken.append((dirent.name, f"{dirent.path}: a symbolic link; task files must be regular files "
                                            "(links are never followed)"))
                continue
            key = (info.st_ino, info.st_mtime_ns, info.st_size)
            cached = known.get(dirent.name)
            if cached is not None and cached[0] == key:
                value = cached[1]
            else:
                value = self._parse(Path(dirent.path), state, info.st_mtime)
                if value is None:
                    continue
                self._dirty = True
            seen[dirent.name] = (key, value)
            if isinstance(value, Entry):
                entries.append(value)
            else:
                broken.append((dirent.name, value))
        if len(seen) != len(known):
            self._dirty = True
        self._files[state] = seen
        return entries, broken

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
        try:
            data = json.loads(self.persist_path.read_bytes())
            if data.get("format") != FORMAT:
                return
            for state, files in data["states"].items():
                self._files[state] = {
                    name: (tuple(key), value["error"] if isinstance(value, dict)
                           else Entry(*value[:6], tuple(value[6]), value[7], value[8], tuple(value[9])))
                    for name, (key, value) in files.items()}
        except FileNotFoundError:
            return
        except (ValueError, KeyError, TypeError) as exc:
            _log.warning("index_unreadable", path=str(self.persist_path), error=str(exc))
            self._files = {}
