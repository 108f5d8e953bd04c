"""A breakdown agent's outbox: new task files, untrusted, turned into subtasks.

Every file is validated like any task file from an untrusted source (no runtime fields),
limited in number and size, and never followed through a symbolic link. Subtask ids are
`<parent id>.<declared id>`, so they cannot collide with other tasks; dependencies among
them may use the ids they declare.
"""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.base.errors import TaskFileError
from orchestrator.formats import task as taskfmt
from orchestrator.formats.task import Task
from orchestrator.store.queue import read_task_file
from orchestrator.store.records import SUFFIX

MAX_OUTBOX_FILES = 100


def read_outbox(outbox: Path, parent: Task) -> list[Task]:
    """The subtasks in outbox; raises TaskFileError listing every problem found."""
    try:
        names = sorted(os.listdir(outbox))
    except FileNotFoundError:
        names = []
    problems: list[str] = []
    files = [n for n in names if not n.startswith(".")]
    if len(files) > MAX_OUTBOX_FILES:
        raise TaskFileError(f"{outbox}: {len(files)} files; a breakdown may create at most {MAX_OUTBOX_FILES} tasks")
    declared: dict[str, Task] = {}
    for name in files:
        path = outbox / name
        if not name.endswith(SUFFIX):
            problems.append(f"{path}: not a task file (task files end in {SUFFIX})")
            continue
        try:
            declared_task = _read_one(path)
        except TaskFileError as exc:
            problems.append(str(exc))
            continue
        declared[declared_task.id] = declared_task
    if problems:
        raise TaskFileError("the outbox has invalid task files:\n" + "\n".join(problems))
    subtasks = []
    for declared_id, t in declared.items():
        new_id = f"{parent.id}.{declared_id}"
        deps = tuple(f"{parent.id}.{d}" if d in declared else d for d in t.depends_on)
        problem = taskfmt.id_problem(new_id)
        if problem:
            raise TaskFileError(f"{outbox / (declared_id + SUFFIX)}: subtask id {new_id!r}: {problem}")
        subtasks.append(t.with_updates(id=new_id, parent=parent.id, depends_on=deps))
    return subtasks


def _read_one(path: Path) -> Task:
    try:
        return read_task_file(path, trusted=False)
    except OSError as exc:
        raise TaskFileError(f"{path}: cannot open ({exc.strerror}; symbolic links are not followed)") from None
