"""The quarantine: queue/invalid/, where files that cannot be tasks wait to be fixed.

Each quarantined file has a sidecar `<name>.why` saying what is wrong and how to fix it, kept in
step with the file: a file edited since its sidecar was written (its mtime is newer) is read again
on the next tick; valid now, it goes back into the queue (incoming/, or blocked/ while a dependency
is not done) and its sidecar goes; still invalid, the sidecar is rewritten with today's reason.
`retry ID` does the same at once. A sidecar whose file is gone (deleted, or moved back by hand)
is removed. Files are renamed, never followed: a symbolic link or a FIFO stays here until removed.
The Queue owns these moves; this module is its part for invalid/.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any, Protocol

from orchestrator.base import durable
from orchestrator.base.clock import iso, utcnow
from orchestrator.base.errors import TaskFileError
from orchestrator.formats.task import Task
from orchestrator.store.journal import Journal
from orchestrator.store.taskfile import SUFFIX, read_task_file


class QueueLike(Protocol):
    """What the quarantine needs of its Queue (which owns it)."""

    root: Path
    journal: Journal

    def dir(self, state: str) -> Path: ...
    def locate(self, task_id: str) -> str | None: ...
    def start_state(self, task: Task) -> str: ...

INVALID = "invalid"
WHY_SUFFIX = ".why"
_COPY_NUMBER = re.compile(r"\.\d+$")  # a second bad file of one name is kept as NAME.md.2


class Quarantine:
    def __init__(self, queue: QueueLike):
        self.queue = queue
        self.dir = queue.root / INVALID

    def put(self, name: str, state: str, problem: str, *, actor: str = "tick") -> Path | None:
        """Move a file that cannot be a task out of the way, with a sidecar saying why and how to fix it."""
        src = self.queue.dir(state) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        target = self.dir / name
        n = 2
        while os.path.lexists(target):
            target = self.dir / f"{name}.{n}"
            n += 1
        try:
            os.rename(src, target)
        except FileNotFoundError:
            return None
        durable.fsync_dir(self.queue.dir(state))
        problem = problem.replace(str(src), str(target))  # the reason names where the file is now
        self._explain(target, f"moved here from {state}/ at {iso(utcnow())}", problem)
        self.queue.journal.append("quarantined", actor=actor, file=name, reason=problem, **_moved(state))
        return target

    def files(self) -> list[tuple[str, str]]:
        """(file name, the reason) for everything in quarantine."""
        found = []
        for name in self._names():
            if name.endswith(WHY_SUFFIX) or name.startswith("."):
                continue
            try:
                text = (self.dir / (name + WHY_SUFFIX)).read_text(errors="replace")
                reason = text.split("\n\n")[1].strip() if "\n\n" in text else text.strip()
            except FileNotFoundError:
                reason = "(no reason recorded)"
            found.append((name, reason))
        return found

    def look_again(self, *, actor: str = "tick") -> list[str]:
        """Each tick: take back the files fixed since they were quarantined, explain the ones still
        wrong, drop sidecars whose file is gone. Returns the ids taken back."""
        names = set(self._names())
        taken = []
        for name in sorted(names):
            if name.endswith(WHY_SUFFIX):
                if name[: -len(WHY_SUFFIX)] not in names:
                    _unlink(self.dir / name)
                continue
            if name.startswith(".") or not self._edited_since_explained(name):
                continue
            try:
                task_id, _ = self.readmit(name, actor=actor)
                taken.append(task_id)
            except TaskFileError:
                pass  # the sidecar now says why
        return taken

    def readmit(self, name: str, *, actor: str) -> tuple[str, str]:
        """Put a quarantined file back into the queue if it is a valid task now; returns (id, state).
        Raises TaskFileError (after rewriting the sidecar) when it is not."""
        path = self.dir / name
        original = _COPY_NUMBER.sub("", name)
        try:
            task = read_task_file(path, name=original)
            state = self.queue.start_state(task)
            owner = self.queue.locate(task.id)
            if owner is not None:
                raise TaskFileError(f"{path}: a task with id '{task.id}' is already in {owner}/ (rename the file "
                                    "to another id, or delete it)")
            target = self.queue.dir(state) / original
            try:
                os.link(path, target)  # never over a file that appeared meanwhile
            except FileExistsError:
                raise TaskFileError(f"{path}: {target} exists (rename the file to another id)") from None
        except TaskFileError as exc:
            self._explain(path, f"looked at again at {iso(utcnow())}, still not a valid task", str(exc))
            raise
        os.unlink(path)
        _unlink(self.dir / (name + WHY_SUFFIX))
        durable.fsync_dir(self.queue.dir(state))
        durable.fsync_dir(self.dir)
        self.queue.journal.append("readmitted", task=task.id, actor=actor, file=name, **_moved(INVALID, state))
        return task.id, state

    def find(self, task_id: str) -> str | None:
        """The name of the quarantined file for this id, if there is one."""
        wanted = task_id + SUFFIX
        return next((n for n in sorted(self._names()) if _COPY_NUMBER.sub("", n) == wanted), None)

    # ---- inside ---------------------------------------------------------------------

    def _names(self) -> list[str]:
        try:
            return os.listdir(self.dir)
        except FileNotFoundError:
            return []

    def _edited_since_explained(self, name: str) -> bool:
        try:
            info = os.lstat(self.dir / name)
        except FileNotFoundError:
            return False
        if not stat.S_ISREG(info.st_mode):
            return False  # a link or a FIFO is never read: it waits here until removed
        try:
            explained = os.stat(self.dir / (name + WHY_SUFFIX)).st_mtime_ns
        except FileNotFoundError:
            explained = 0  # put here by hand: look at it
        return info.st_mtime_ns > explained

    def _explain(self, path: Path, what: str, problem: str) -> None:
        back = self.queue.dir("incoming") / _COPY_NUMBER.sub("", path.name)
        why = (f"{path} is not a valid task ({what}):\n\n  {problem}\n\n"
               f"Fix it here: the next tick takes it back into the queue ({back}), or run\n"
               f"'python -m orchestrator retry {_COPY_NUMBER.sub('', path.name).removesuffix(SUFFIX)}' to do it now.\n"
               "To drop it, delete it and this file.\n")
        durable.write_atomic(self.dir / (path.name + WHY_SUFFIX), why)
        # The sidecar must not look older than the file it explains, whatever the clocks say.
        info = os.lstat(path)
        sidecar = self.dir / (path.name + WHY_SUFFIX)
        if os.stat(sidecar).st_mtime_ns < info.st_mtime_ns:
            os.utime(sidecar, ns=(info.st_mtime_ns, info.st_mtime_ns))


def _moved(src: str, dst: str = INVALID) -> dict[str, Any]:
    return {"from": src, "to": dst}


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
