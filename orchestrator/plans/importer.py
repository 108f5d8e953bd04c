"""`import FILE`: a Markdown plan becomes queue tasks with dependencies; importing it again after
an edit syncs the tasks it made (rules in docs/IMPORT.md).

    read (reader.py) -> order (order.py) -> tasks and their bodies (here) -> what changes against
    the queue and the last import (sync.py) -> the report, as text or JSON (report.py)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from orchestrator.base.errors import UsageError
from orchestrator.formats.config import Config
from orchestrator.formats.task import DEFAULT_PRIORITY, DEFAULT_ROLE, Task, id_problem, slugify
from orchestrator.plans import order as ordering
from orchestrator.plans import sync
from orchestrator.plans.model import Plan, PlanItem
from orchestrator.plans.reader import read_plan
from orchestrator.plans.report import ImportReport
from orchestrator.store.backend import QueueBackend, open_queue

MAX_LINKED_TEXT = 20_000


@dataclass(frozen=True)
class ImportOptions:
    dry_run: bool = False
    role: str | None = None
    prefix: str | None = None
    sequential: bool = False


def import_plan(cfg: Config, path: Path, options: ImportOptions) -> ImportReport:
    plan = read_plan(path)
    queue = open_queue(cfg)
    built = build(plan, queue, cfg.repo, options)
    changes = sync.compare(queue, cfg.state_dir, built, plan_key=str(path.resolve()))
    if not options.dry_run:
        queue.ensure_dirs()
        sync.apply(cfg, queue, changes)
    return ImportReport.of(built, changes, dry_run=options.dry_run)


@dataclass
class Built:
    """A plan read and ordered: the tasks it makes, each with the item it came from."""

    plan: Plan
    tasks: list[tuple[PlanItem, Task]]
    done: list[PlanItem]
    ids: dict[str, str]  # plan key -> task id
    order: ordering.Order
    sections: dict[str, tuple[str, ...]]  # plan key -> section path


def build(plan: Plan, queue: QueueBackend, repo: Path, options: ImportOptions) -> Built:
    if not plan.items:
        raise UsageError(f"{plan.source}: found no tasks (write them as checklist lines '- [ ] T001 Do this', "
                         "task headings '### Task 1: Do this', or a table with a Task or Title column)")
    ids = {item.key: queue_id(item.key, options.prefix) for item in plan.items}

    def in_queue(ref: str) -> str | None:
        candidate = queue_id(ref, options.prefix)
        return candidate if not id_problem(candidate) and queue.locate(candidate) else None

    order = ordering.resolve_order(plan, sequential=options.sequential, in_queue=in_queue)
    plan.warnings.extend(order.warnings)
    plan.warnings.sort()
    sections = {item.key: section_path(plan, item.section) for item in plan.items}
    conventions = plan.conventions
    role = options.role or DEFAULT_ROLE
    where = _relative(Path(plan.source), repo)  # (once: resolving paths is most of a body's cost)
    tasks = []
    for item in plan.items:
        if item.done:
            continue
        deps = sorted({ids[d] for d in order.deps[item.key]} | order.external[item.key])
        body = task_body(item, plan, sections[item.key], repo, conventions, where)
        tasks.append((item, Task(id=ids[item.key], title=item.title[:160] or ids[item.key], body=body, role=role,
                                 priority=priority_of(plan, item), estimate=estimate_of(plan, item),
                                 depends_on=tuple(deps))))
    return Built(plan, tasks, [i for i in plan.items if i.done], ids, order, sections)


def queue_id(key: str, prefix: str | None) -> str:
    """The task id for a plan key: '#12' is 12; an id a task file cannot have is made into one."""
    bare = key.lstrip("#")
    if id_problem(bare):
        bare = slugify(bare, 60) or "task"
    return f"{prefix}-{bare}" if prefix else bare


def section_path(plan: Plan, index: int | None) -> tuple[str, ...]:
    path: list[str] = []
    while index is not None:
        section = plan.sections[index]
        path.append(section.title)
        index = section.parent
    return tuple(reversed(path))


def priority_of(plan: Plan, item: PlanItem) -> str:
    """The nearest priority: the task's own, else its sections', innermost first."""
    if item.priority:
        return item.priority
    index = item.section
    while index is not None:
        section = plan.sections[index]
        if section.priority:
            return section.priority
        index = section.parent
    return DEFAULT_PRIORITY


def estimate_of(plan: Plan, item: PlanItem) -> str | None:
    return item.estimate


def task_body(item: PlanItem, plan: Plan, section: tuple[str, ...], repo: Path, conventions: str | None,
              where: str) -> str:
    lines = ["\n".join(item.body).strip(), "", "---",
             f"Imported from {where}, line {item.line}" + (f" (section: {' › '.join(section)})" if section else "")
             + "."]
    for link in item.links[:3]:
        target = (Path(plan.source).parent / link.split("#")[0]).resolve()
        shown = _relative(target, repo)
        lines.append(f"Task file: {shown}")
        text = _linked_text(target, repo)
        if text is not None:
            lines += ["", f"Contents of {shown}:", "", text.rstrip(), ""]
    if conventions:
        lines += ["", "Conventions of the plan:", "", conventions]
    return "\n".join(lines).strip() + "\n"


def _relative(path: Path, repo: Path) -> str:
    try:
        resolved, root = path.resolve(), repo.resolve()
    except OSError:
        return str(path)
    return os.path.relpath(resolved, root) if resolved.is_relative_to(root) else str(resolved)


def _linked_text(path: Path, repo: Path) -> str | None:
    """A linked file's text, when it is a file inside the repository (an agent reads it there too)."""
    try:
        if not path.resolve().is_relative_to(repo.resolve()) or not path.is_file():
            return None
        text = path.read_bytes()[: MAX_LINKED_TEXT + 1].decode("utf-8", errors="replace")
    except OSError:
        return None
    return text[:MAX_LINKED_TEXT] + ("\n[... cut at 20,000 characters]" if len(text) > MAX_LINKED_TEXT else "")
