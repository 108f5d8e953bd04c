"""The order of a plan's tasks: what each waits for, from what the plan states (resolved to tasks,
groups expanded) and what its format implies (spec-kit phases and [P], or --sequential); a stated
edge wins over an implied one; a cycle of stated edges is refused. Rules in docs/IMPORT.md."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator.base.errors import UsageError
from orchestrator.flow.graph import find_cycle
from orchestrator.plans.model import Edge, Plan, PlanItem


@dataclass
class Order:
    deps: dict[str, set[str]]  # open task key -> keys it waits for (in the plan)
    external: dict[str, set[str]]  # open task key -> ids of tasks already in the queue
    stated: int = 0
    implied: int = 0
    warnings: list[tuple[int, str]] = field(default_factory=list)


def resolve_order(plan: Plan, *, sequential: bool, in_queue: Callable[[str], str | None]) -> Order:
    """in_queue(key) -> the queue id of an existing task the plan may name, or None."""
    items = {item.key: item for item in plan.items}
    open_keys = [item.key for item in plan.items if not item.done]
    order = Order({key: set() for key in open_keys}, {key: set() for key in open_keys})
    implied = implied_edges(plan, sequential=sequential)
    groups = _Groups(plan)
    # Groups are expanded against the order without group references: to its last tasks as what
    # is waited for, to its first tasks as what waits.
    base: dict[str, set[str]] = {key: set() for key in open_keys}
    stated_plain: list[tuple[str, str, int]] = []
    for edge in plan.edges:
        if isinstance(edge.later, PlanItem | str) and _is_task(edge.later, items) \
                and _is_task(edge.earlier, items):
            stated_plain.append((_key(edge.later), _key(edge.earlier), edge.line))
    for later, earlier, _ in stated_plain:
        if later in base and earlier in base:
            base[later].add(earlier)
    for later, earlier in implied:
        base[later].add(earlier)
    stated: list[tuple[str, str, int]] = []
    for edge in plan.edges:
        laters = _side(edge.later, edge.line, items, groups, base, order, in_queue, last=False)
        earliers = _side(edge.earlier, edge.line, items, groups, base, order, in_queue, last=True)
        for later in laters:
            if later not in order.deps:
                continue  # a task done in the plan waits for nothing
            for earlier in earliers:
                if earlier == later:
                    continue
                if earlier.startswith("\0"):  # a task already in the queue
                    order.external[later].add(earlier[1:])
                elif earlier in order.deps:
                    stated.append((later, earlier, edge.line))
                # (waiting for a task done in the plan: satisfied)
    for later, earlier, _ in stated:
        order.deps[later].add(earlier)
    order.stated = len({(a, b) for a, b, _ in stated})
    if find_cycle(order.deps):
        _refuse_stated_cycle(plan, order.deps, stated)
    lines = {(a, b): line for a, b, line in stated}
    union = {key: order.deps[key] | set() for key in order.deps}
    for later, earlier in implied:
        union[later].add(earlier)
    if not find_cycle(union):  # the common case: nothing contradicts, one walk instead of one per edge
        order.implied = sum(len(union[k] - order.deps[k]) for k in union)
        order.deps = union
        return order
    for later, earlier in implied:
        if earlier in order.deps[later]:
            continue
        path = _path(order.deps, earlier, later)
        if path is not None:
            line = next((lines[step] for step in itertools.pairwise(path) if step in lines), 0)
            order.warnings.append((line, f"implied order dropped: {later} after {earlier} (the order of the "
                                         f"list) contradicts the stated {' -> '.join(path)}"))
            continue
        order.deps[later].add(earlier)
        order.implied += 1
    return order


def _is_task(ref: str | PlanItem, items: dict[str, PlanItem]) -> bool:
    return isinstance(ref, PlanItem) or ref in items


def _key(ref: str | PlanItem) -> str:
    return ref.key if isinstance(ref, PlanItem) else ref


def _side(ref, line, items, groups, base, order, in_queue, *, last: bool) -> list[str]:
    if isinstance(ref, PlanItem):
        return [ref.key]
    if ref in items:
        return [ref]
    members = groups.members(ref)
    if members is not None:
        open_members = [m for m in members if m in base]
        return _ends(open_members, base, last=last)
    queued = in_queue(ref)
    if queued:
        return ["\0" + queued]
    order.warnings.append((line, f"unknown id {ref.lstrip('#') if ref.startswith('#') else ref}: not a task or "
                                 "group of this plan, nor a task in the queue; that dependency is ignored"))
    return []


def _ends(members: list[str], deps: dict[str, set[str]], *, last: bool) -> list[str]:
    """A group's last tasks (no other member waits for them), or its first (they wait for no member)."""
    inside = set(members)
    if last:
        waited = {d for m in members for d in deps.get(m, ()) if d in inside}
        return [m for m in members if m not in waited]
    return [m for m in members if not (deps.get(m, set()) & inside)]


class _Groups:
    """What a group reference names: a section (by name or §index) or a parent id's children."""

    def __init__(self, plan: Plan):
        self.by_name: dict[str, int] = {}
        for section in plan.sections:
            for name in section.names:
                self.by_name.setdefault(name.lower(), section.index)
            self.by_name.setdefault(section.key, section.index)
        children: dict[int, list[int]] = {}
        for section in plan.sections:
            if section.parent is not None:
                children.setdefault(section.parent, []).append(section.index)
        self.section_items: dict[int, list[str]] = {}
        direct: dict[int, list[str]] = {}
        for item in plan.items:
            if item.section is not None:
                direct.setdefault(item.section, []).append(item.key)
        for section in plan.sections:
            if section.task is not None:
                direct.setdefault(section.index, [])
        for section in reversed(plan.sections):  # children come after their parents
            keys = list(direct.get(section.index, []))
            for child in children.get(section.index, []):
                keys.extend(self.section_items.get(child, []))
            self.section_items[section.index] = keys
        self.children: dict[str, list[str]] = {}  # T2 -> T2.1, T2.2, T2.2.1 ...
        for item in plan.items:
            parts = item.key.split(".")
            for n in range(1, len(parts)):
                self.children.setdefault(".".join(parts[:n]), []).append(item.key)

    def members(self, ref: str) -> list[str] | None:
        index = self.by_name.get(ref.lower())
        if index is not None:
            return self.section_items.get(index, [])
        return self.children.get(ref)


def implied_edges(plan: Plan, *, sequential: bool) -> list[tuple[str, str]]:
    """The order the format implies: only with [P] markers (spec-kit) or --sequential."""
    if not (plan.marks_parallel or sequential):
        return []
    phases = _phases(plan)
    edges: list[tuple[str, str]] = []
    sinks_before: list[str] = []
    story_base: list[str] | None = None  # the sinks of the phase before the first user story
    story_sinks: list[str] = []
    for phase, items in phases:
        story = plan.stories_parallel and phase is not None and plan.sections[phase].story
        if story and story_base is None:
            story_base = sinks_before
        elif not story and story_base is not None and story_sinks:
            sinks_before, story_base, story_sinks = story_sinks, None, []
        entry = story_base if story and story_base is not None else sinks_before
        last_seq: str | None = None
        run: list[str] = []
        subsection = items[0].section if items else None
        for item in items:
            if item.section != subsection:  # "Tests for ..." before "Implementation for ...": in order
                subsection = item.section
                entry = run or ([last_seq] if last_seq else entry)
                last_seq, run = None, []
            if item.parallel:
                before = [last_seq] if last_seq else entry
                run.append(item.key)
            else:
                before = run or ([last_seq] if last_seq else entry)
                last_seq, run = item.key, []
            edges.extend((item.key, b) for b in before)
        sinks = run or ([last_seq] if last_seq else [])
        if story:
            story_sinks.extend(sinks)
        else:
            sinks_before = sinks or sinks_before
    return edges


def _phases(plan: Plan) -> list[tuple[int | None, list[PlanItem]]]:
    """Open checklist and heading tasks per phase: the sections of the shallowest level at which at
    least two sections hold tasks (a single title over the whole plan is no phase)."""
    tasks = [item for item in plan.items if not item.done and item.kind != "row"]
    chain: dict[int | None, list[int]] = {}

    def ancestors(index: int | None) -> list[int]:
        if index not in chain:
            chain[index] = [] if index is None else ancestors(plan.sections[index].parent) + [index]
        return chain[index]

    levels = sorted({plan.sections[s].level for item in tasks for s in ancestors(item.section)})
    phase_level = None
    for level in levels:
        holders = {s for item in tasks for s in ancestors(item.section) if plan.sections[s].level == level}
        if len(holders) >= 2:
            phase_level = level
            break
    grouped: dict[int | None, list[PlanItem]] = {}
    for item in tasks:
        at = [s for s in ancestors(item.section) if plan.sections[s].level == phase_level] if phase_level else []
        grouped.setdefault(at[0] if at else None, []).append(item)
    return sorted(grouped.items(), key=lambda pair: -1 if pair[0] is None else pair[0])


def _path(deps: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    """A chain of waits from start to goal (start waits for ... waits for goal), or None."""
    if start == goal:
        return [start]
    parent: dict[str, str] = {start: start}
    todo = [start]
    while todo:
        node = todo.pop()
        for nxt in deps.get(node, ()):
            if nxt in parent:
                continue
            parent[nxt] = node
            if nxt == goal:
                path = [goal]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return path[::-1]
            todo.append(nxt)
    return None


def _refuse_stated_cycle(plan: Plan, deps: dict[str, set[str]], stated: list[tuple[str, str, int]]) -> None:
    lines = {(a, b): line for a, b, line in stated}
    for later, earlier, _ in stated:
        path = _path(deps, earlier, later)
        if path is not None:
            cycle = [later] + path
            where = ", ".join(f"{a} after {b} (line {lines.get((a, b), '?')}, stated)"
                              for a, b in itertools.pairwise(cycle))
            raise UsageError(f"{plan.source}:{lines[(later, earlier)]}: dependency cycle "
                             f"{' -> '.join(k.lstrip('#') for k in cycle)}: {where}; remove one of these")


def depths(deps: dict[str, set[str]], keys: list[str]) -> dict[str, int]:
    """1 for a task that waits for nothing in the plan, else 1 + the deepest of what it waits for."""
    depth: dict[str, int] = {}
    for key in keys:
        stack = [key]
        while stack:
            node = stack[-1]
            if node in depth:
                stack.pop()
                continue
            pending = [d for d in deps.get(node, ()) if d not in depth]
            if pending:
                stack.extend(pending)
                continue
            depth[node] = 1 + max((depth[d] for d in deps.get(node, ())), default=0)
            stack.pop()
    return depth


def critical_path(deps: dict[str, set[str]], keys: list[str]) -> list[str]:
    depth = depths(deps, keys)
    if not depth:
        return []
    position = {k: i for i, k in enumerate(keys)}
    node = max(keys, key=lambda k: (depth[k], -position[k]))
    path = [node]
    while deps.get(node):
        node = max(deps[node], key=lambda k: depth[k])
        path.append(node)
    return path[::-1]


def max_parallelism(deps: dict[str, set[str]], keys: list[str]) -> int:
    counts: dict[int, int] = {}
    for value in depths(deps, keys).values():
        counts[value] = counts.get(value, 0) + 1
    return max(counts.values(), default=0)


__all__ = ["Edge", "Order", "critical_path", "depths", "implied_edges", "max_parallelism", "resolve_order"]
