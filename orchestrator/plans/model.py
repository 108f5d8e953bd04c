"""What reading a plan gives: its items (the tasks to be), its sections (groups a reference can
name), the dependencies it states (as written; order.py resolves them) and its warnings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias


@dataclass
class Section:
    index: int
    level: int
    title: str
    line: int
    parent: int | None
    names: list[str] = field(default_factory=list)  # group names it answers to: "phase 3", "WP01"
    priority: str | None = None
    estimate: str | None = None
    task: PlanItem | None = None  # when the heading names one task
    story: bool = False

    @property
    def key(self) -> str:
        return f"§{self.index}"


@dataclass
class PlanItem:
    key: str  # the plan's id (T012, TASK-030, #12) or, when it has none, made from the title
    title: str
    line: int
    done: bool
    kind: str  # check, row, heading
    section: int | None
    parallel: bool = False
    body: list[str] = field(default_factory=list)
    has_plan_id: bool = False
    priority: str | None = None
    estimate: str | None = None
    links: list[str] = field(default_factory=list)
    table: int | None = None  # the header line of its table


Ref: TypeAlias = "str | PlanItem"  # a reference as written (a task key, a group name, a section key §3), or an item


@dataclass
class Edge:
    later: str | PlanItem
    earlier: str | PlanItem
    line: int


@dataclass
class Plan:
    source: str
    items: list[PlanItem] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)
    conventions: str | None = None
    marks_parallel: bool = False  # a checklist task carries [P]: unmarked ones are sequential
    stories_parallel: bool = False  # the plan says its user stories can proceed in parallel
    skipped: int = 0

    def warn(self, line: int, message: str) -> None:
        self.warnings.append((line, message))
