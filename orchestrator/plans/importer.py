"""`import FILE`: a Markdown plan becomes queue tasks with dependencies (rules in docs/IMPORT.md).

Implicit order applies to checklist tasks: within a phase, a task without [P] waits for the
task (or the run of [P] tasks) before it, and a [P] task waits only for the last task without
[P] before it; the first tasks of a phase wait for the last tasks of the phase before it (the
ones nothing else in that phase waits for), and so transitively for the whole phase. Table
tasks get only the dependencies the plan states. Stated dependencies are added on top.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.base.errors import UsageError
from orchestrator.flow import enqueue
from orchestrator.formats.config import Config
from orchestrator.formats.task import DEFAULT_ROLE, Task, id_problem
from orchestrator.plans.reader import Plan, PlanItem, read_plan
from orchestrator.store.queue import Queue


def import_plan(cfg: Config, path: Path, *, dry_run: bool, role: str | None, prefix: str | None) -> str:
    plan = read_plan(path)
    queue = Queue(cfg.queue_dir, cfg.state_dir)
    tasks, report = plan_tasks(plan, queue, role=role or DEFAULT_ROLE, prefix=prefix)
    _, existing = enqueue.plan(queue, tasks)
    lines = [f"plan {path}: {len(tasks)} tasks"] + report
    if existing:
        lines.append(f"  already imported (skipped): {', '.join(existing)}")
    lines += ["", "tasks:"] + [f"  {t.id:<14} {t.title}" for t in tasks]
    lines += ["", "dependency graph (task <- what it waits for):"] + render_graph(tasks)
    if dry_run:
        lines.append("\n(dry run: nothing was enqueued)")
        return "\n".join(lines)
    queue.ensure_dirs()
    result = enqueue.enqueue(queue, tasks, actor="import")
    lines.append(f"\nenqueued {len(result.created)} tasks"
                 + (f", {len(result.existing)} were already there" if result.existing else ""))
    return "\n".join(lines)


def plan_tasks(plan: Plan, queue: Queue, *, role: str, prefix: str | None) -> tuple[list[Task], list[str]]:
    """The tasks to enqueue for plan, and lines reporting what was skipped or ignored."""
    if not plan.items:
        raise UsageError(f"{plan.source}: found no tasks (write them as checklist lines '- [ ] T001 Do this' "
                         "or as a table with a Task or Title column)")
    ids = assign_ids(plan, prefix)
    open_items = [i for i in plan.items if not i.done]
    done_keys = {i.key for i in plan.items if i.done}
    deps: dict[str, set[str]] = {i.key: set() for i in open_items}
    for later, earlier in implicit_edges(open_items):
        deps[later].add(earlier)
    ignored = []
    for later, earlier, line in plan.edges:
        if later not in deps or earlier in done_keys:
            continue
        if earlier in deps:
            deps[later].add(earlier)
        elif queue.locate(_queue_id(earlier, prefix)):
            ids[earlier] = _queue_id(earlier, prefix)
            deps[later].add(earlier)
        else:
            ignored.append(f"line {line}: {later} depends on {earlier}, which is not in the plan or the queue")
    tasks = [_task(item, ids, sorted(deps[item.key], key=lambda k: ids[k]), role, plan) for item in open_items]
    report = []
    done = [i for i in plan.items if i.done]
    if done:
        named = [i.key for i in done if i.has_plan_id]
        report.append(f"  done in the plan (skipped): {len(done)}" + (f": {', '.join(named)}" if named else "")
                      + (f" and {len(done) - len(named)} without ids" if len(done) > len(named) else ""))
    report += [f"  ignored: {why}" for why in ignored]
    return tasks, report


def implicit_edges(items: list[PlanItem]) -> list[tuple[str, str]]:
    edges: list[tuple[str, str]] = []
    previous_sinks: list[str] = []
    phases: dict[int, list[PlanItem]] = {}
    for item in items:
        if not item.from_table:
            phases.setdefault(item.phase, []).append(item)
    for phase in sorted(phases):
        last_seq: str | None = None
        run: list[str] = []
        for item in phases[phase]:
            if item.parallel:
                before = [last_seq] if last_seq else previous_sinks
                run.append(item.key)
            else:
                before = run or ([last_seq] if last_seq else previous_sinks)
                last_seq, run = item.key, []
            edges.extend((item.key, b) for b in before)
        # What nothing else in this phase waits for: a trailing [P] run, else the last task.
        previous_sinks = run or ([last_seq] if last_seq else [])
    return edges


def assign_ids(plan: Plan, prefix: str | None) -> dict[str, str]:
    """Plan keys to queue ids: the plan's own ids where it has them, else made from the title."""
    ids: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for item in plan.items:
        if item.key in first_line:
            raise UsageError(f"{plan.source}:{item.line}: task id {item.key} appears twice "
                             f"(first at line {first_line[item.key]}); give each task its own id")
        first_line[item.key] = item.line
        ids[item.key] = _queue_id(item.key, prefix)
        problem = id_problem(ids[item.key])
        if problem and not item.done:
            raise UsageError(f"{plan.source}:{item.line}: {problem}")
    return ids


def _queue_id(key: str, prefix: str | None) -> str:
    key = key.lstrip("#")
    return f"{prefix}-{key}" if prefix else key


def _task(item: PlanItem, ids: dict[str, str], deps: list[str], role: str, plan: Plan) -> Task:
    phase = f" (phase: {plan.phases[item.phase]})" if item.phase >= 0 and plan.phases else ""
    body = "\n".join(item.body) + f"\n\nImported from {Path(plan.source).name}, line {item.line}{phase}.\n"
    return Task(id=ids[item.key], title=item.title, body=body, role=role, depends_on=tuple(ids[d] for d in deps))


def render_graph(tasks: list[Task]) -> list[str]:
    if not tasks:
        return ["  (no tasks)"]
    return [f"  {t.id} <- {', '.join(t.depends_on)}" if t.depends_on else f"  {t.id} (starts at once)"
            for t in tasks]


