"""Importing a plan again: what changes against the queue and against what the last import made.

Each item is matched to the task an earlier import made from it (store/imports.py): by its plan
id, else by its place in its section (so a retitled item keeps its task). A matched task still
waiting (incoming/, blocked/) is updated to the plan; one running or finished is never touched;
an item ticked [x] since finishes its waiting task; an item gone from the plan is reported.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from orchestrator.base.errors import OrchestratorError, StateError
from orchestrator.flow import control, enqueue, graph
from orchestrator.formats.config import Config
from orchestrator.formats.task import Task, slugify
from orchestrator.plans.model import PlanItem
from orchestrator.store.backend import QueueBackend
from orchestrator.store.imports import ImportBook, Made
from orchestrator.store.records import entry_of

WAITING = ("incoming", "blocked")
COMPARED = ("title", "body", "priority", "estimate", "depends_on")


@dataclass
class Change:
    action: str  # create, update, unchanged, tick, left_alone
    task: Task
    item: PlanItem
    state: str | None
    fields: tuple[str, ...] = ()


@dataclass
class Changes:
    plan_key: str
    state_dir: Path
    items: list[Change] = field(default_factory=list)
    removed: list[tuple[str, str | None]] = field(default_factory=list)  # (task id, its state)
    records: list[Made] = field(default_factory=list)

    def of(self, action: str) -> list[Change]:
        return [c for c in self.items if c.action == action]


def record_key(item: PlanItem, section: tuple[str, ...]) -> str:
    return item.key if item.has_plan_id else "/".join(section) + "/" + slugify(item.title, 60)


def content_digest(task: Task) -> str:
    """Of the fields a plan gives a task: equal digests, nothing for a re-import to change."""
    text = "\0".join([task.title, task.body, task.priority, task.estimate or "", ",".join(task.depends_on)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def compare(queue: QueueBackend, state_dir: Path, built, *, plan_key: str) -> Changes:
    previous = ImportBook(state_dir).load(plan_key)
    matched = _match(built, previous)
    remap = {built.ids[key]: made.task for key, made in matched.items() if built.ids[key] != made.task}
    changes = Changes(plan_key, state_dir)
    stamps = queue.stamps()
    ticks = []
    for item in built.done:
        made = matched.get(item.key)
        state = stamps[made.task][0] if made is not None and made.task in stamps else None
        if made is not None and state in WAITING:
            _, queued = queue.read(made.task, state)
            ticks.append(Change("tick", queued, item, state))
    ticked = {c.task.id for c in ticks}
    for item, task in built.tasks:
        task = _remapped(task, remap)
        made = matched.get(item.key)
        state, *stamp = stamps.get(task.id, (None, 0, 0))
        if made is not None and state is not None and made.stamp == tuple(stamp) \
                and made.digest == content_digest(task):
            changes.items.append(Change("unchanged", task, item, state))  # its file is as the last import left it
            continue
        changes.items.append(_classify(queue, item, task, state, ours=made is not None, ticked=ticked))
    changes.items += ticks
    used = {id(made) for made in matched.values()}
    gone = [made for made in previous if id(made) not in used and not made.done]
    changes.removed = [(made.task, stamps[made.task][0] if made.task in stamps else None) for made in gone]
    ordinals = _ordinals(built.plan.items)
    for item in built.plan.items:
        task_id = matched[item.key].task if item.key in matched else remap.get(built.ids[item.key],
                                                                                built.ids[item.key])
        section = built.sections[item.key]
        changes.records.append(Made(key=record_key(item, section), task=task_id, title=item.title,
                                    section=section, ordinal=ordinals[id(item)], done=item.done, digest=""))
    changes.records += [made for made, (_, state) in zip(gone, changes.removed, strict=True) if state]
    creating = {c.task.id: c.task.depends_on for c in changes.items if c.action in ("create", "update")}
    graph.check_new_dependencies(queue, creating)
    return changes


def _classify(queue: QueueBackend, item: PlanItem, task: Task, state: str | None, *, ours: bool,
              ticked: set[str]) -> Change:
    if state is None:
        return Change("create", task, item, None)
    _, queued = queue.read(task.id, state)
    if not ours and queued.title != task.title:
        raise StateError(f"id '{task.id}' is already used by another task in {state}/ ('{queued.title}'); "
                         "nothing was imported (choose other ids, e.g. with --prefix)")
    differs = tuple(f for f in COMPARED if getattr(queued, f) != getattr(task, f)
                    and not (f == "depends_on" and _only_met_dropped(queue, queued.depends_on, task.depends_on, ticked)))
    if not ours:
        return Change("unchanged", queued, item, state)  # imported before this record existed
    if not differs:
        return Change("unchanged", queued, item, state)
    if state not in WAITING:
        return Change("left_alone", queued, item, state, differs)
    return Change("update", task, item, state, differs)


def _only_met_dropped(queue: QueueBackend, old: tuple[str, ...], new: tuple[str, ...], ticked: set[str]) -> bool:
    """The plan no longer names dependencies that are done (ticked since): nothing to change."""
    return set(new) <= set(old) and all(d in ticked or queue.locate(d) == "done" for d in set(old) - set(new))


def _match(built, previous: list[Made]) -> dict[str, Made]:
    """Plan key -> the record of the task an earlier import made from that item."""
    by_key = {made.key: made for made in previous}
    matched: dict[str, Made] = {}
    ordinals = _ordinals(built.plan.items)
    loose: list[PlanItem] = []
    for item in built.plan.items:
        made = by_key.pop(record_key(item, built.sections[item.key]), None)
        if made is not None:
            matched[item.key] = made
        elif not item.has_plan_id:
            loose.append(item)
    by_place = {(made.section, made.ordinal): made for made in by_key.values() if "/" in made.key}
    for item in loose:  # retitled: the same place in the same section
        made = by_place.pop((built.sections[item.key], ordinals[id(item)]), None)
        if made is not None:
            matched[item.key] = made
    return matched


def _ordinals(items: list[PlanItem]) -> dict[int, int]:
    seen: dict[int | None, int] = {}
    result = {}
    for item in items:
        result[id(item)] = seen.get(item.section, 0)
        seen[item.section] = result[id(item)] + 1
    return result


def _remapped(task: Task, remap: dict[str, str]) -> Task:
    if not remap:
        return task
    return replace(task, id=remap.get(task.id, task.id),
                   depends_on=tuple(sorted(remap.get(d, d) for d in task.depends_on)))


def apply(cfg: Config, queue: QueueBackend, changes: Changes) -> None:
    reason = f"the plan {changes.plan_key} changed"
    enqueue.enqueue(queue, [c.task for c in changes.of("create")], actor="import")
    for change in changes.of("update"):
        assert change.state is not None
        updates = {f: getattr(change.task, f) for f in change.fields}
        if queue.revise(change.task.id, change.state, updates, actor="import", reason=reason) is None:
            change.action = "left_alone"  # it moved on meanwhile
    finished = []
    for change in changes.of("tick"):
        assert change.state is not None
        try:
            if cfg.import_ticked == "cancel":
                control.cancel(cfg, queue, change.task.id, actor="import")
            elif queue.transition(change.task.id, change.state, "done", actor="import", event="done_in_plan",
                                  reason="ticked [x] in the plan") is not None:
                finished.append(change.task.id)
        except StateError:
            change.action = "left_alone"
    _release_dependents(queue, changes, set(finished) | {c.task.id for c in changes.of("update")})
    _stamp(queue, changes)
    ImportBook(changes.state_dir).save(changes.plan_key, changes.records)


def _release_dependents(queue: QueueBackend, changes: Changes, moved: set[str]) -> None:
    """Release the plan's blocked tasks that waited for what was ticked or changed (one read each),
    instead of reading every blocked task once per tick; the tick releases any other."""
    if not moved:
        return
    for change in changes.items:
        if change.action in ("create", "update", "unchanged") and (
                change.task.id in moved or set(change.task.depends_on) & moved):
            try:
                task = queue.get(change.task.id, "blocked")
            except (OSError, OrchestratorError):
                continue  # not readable: validate reports that
            if task is None:
                continue  # not blocked
            graph.release_if_ready(queue, entry_of(task, "blocked", 0.0), actor="import")


def _stamp(queue: QueueBackend, changes: Changes) -> None:
    """What the next import needs to skip reading a file nobody touched since: its size and mtime
    and the digest of what it holds."""
    stamps = queue.stamps()
    digests = {c.task.id: content_digest(c.task) for c in changes.items if c.action != "tick"}
    records = []
    for made in changes.records:
        found = stamps.get(made.task)
        records.append(replace(made, digest=digests.get(made.task, ""),
                               stamp=(found[1], found[2]) if found and made.task in digests else None))
    changes.records = records
