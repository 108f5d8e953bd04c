"""Tables of tasks: a row per task in a table with a task or id column; and, once the whole plan is
read, index tables (rows that only repeat tasks defined elsewhere) folded into those tasks."""

from __future__ import annotations

import re

from orchestrator.plans import shapes
from orchestrator.plans.markdown import Block
from orchestrator.plans.model import Edge, Plan, PlanItem

TITLE_COLUMNS = ("task", "title", "name", "summary", "item", "deliverable", "work package", "description")
ID_COLUMNS = ("id", "#", "key", "task id", "no", "ref")
STATUS_COLUMNS = ("status", "state", "done")
BODY_COLUMNS = ("description", "details", "notes", "scope", "acceptance criteria")
DEPENDS_COLUMNS = ("depends on", "dependencies", "depends", "blocked by", "prerequisites", "requires", "after")
PRIORITY_COLUMNS = ("priority", "prio", "importance", "severity")
ESTIMATE_COLUMNS = ("estimate", "effort", "size", "time", "duration", "est", "hours", "days", "points")


def cells(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def _column(header: list[str], names: tuple[str, ...], taken: tuple[int | None, ...] = ()) -> int | None:
    cleaned = [" ".join(re.sub(r"[^a-z# ]", " ", h.lower()).split()) for h in header]
    for name in names:
        for i, h in enumerate(cleaned):
            if h == name and i not in taken:
                return i
    return None


def read(plan: Plan, rows: list[Block], section: int | None) -> None:
    if len(rows) < 2 or not re.fullmatch(r"[\s|:\-]+", rows[1].text):
        return
    header = cells(rows[0].text)
    id_col = _column(header, ID_COLUMNS)
    title_col = _column(header, TITLE_COLUMNS[:-1], (id_col,))
    if title_col is None:
        title_col = _column(header, ("description",), (id_col,))
    if title_col is None and id_col is None:
        return  # not a table of tasks (a legend, a comparison)
    status_col, deps_col = _column(header, STATUS_COLUMNS), _column(header, DEPENDS_COLUMNS)
    priority_col, estimate_col = _column(header, PRIORITY_COLUMNS), _column(header, ESTIMATE_COLUMNS)
    body_col = _column(header, BODY_COLUMNS, (title_col, id_col))
    special = (title_col, id_col, status_col, deps_col, priority_col, estimate_col)
    header_line = rows[0].line
    for row in rows[2:]:
        values = cells(row.text) + [""] * len(header)
        title_text = shapes.strip_comments(values[title_col]) if title_col is not None else ""
        id_text = shapes.clean_title(values[id_col]) if id_col is not None else ""
        key = shapes.split_leading_id(id_text + " ")[0] or (id_text if shapes.REF_TOKEN.fullmatch(id_text) else None)
        key_in_title, rest = shapes.split_leading_id(shapes.LINK.sub(r"\1", title_text).replace("**", "").strip() + " ")
        key = shapes.canonical(key or key_in_title or "") or None
        title = shapes.clean_title(rest if key_in_title else title_text)
        if not title and not key:
            continue
        if shapes.struck(title_text) or shapes.struck(values[id_col] if id_col is not None else ""):
            plan.warn(row.line, f"'{shapes.clean_title(title_text).strip('~')}' is struck through: skipped")
            continue
        if key is None and shapes.is_placeholder(title):
            plan.warn(row.line, f"'{title_text or '(empty)'}' is a placeholder, not a task: skipped")
            continue
        priority, warning = shapes.priority_of(values[priority_col]) if priority_col is not None else (None, None)
        if warning:
            plan.warn(row.line, warning)
        body = [_body_cell(values[body_col])] if body_col is not None and values[body_col] else []
        body += [f"{header[i]}: {c}" for i, c in enumerate(values[: len(header)])
                 if c and i not in special and i != body_col]
        item = PlanItem(key=key or "", title=title or key or "", line=row.line,
                        done=bool(status_col is not None and shapes.is_done_text(values[status_col])),
                        kind="row", section=section, body=body, has_plan_id=bool(key), priority=priority,
                        estimate=(values[estimate_col].strip() or None) if estimate_col is not None else None,
                        links=[t for _, t in shapes.LINK.findall(title_text) if t and not re.match(r"^[a-z]+:|#", t)],
                        table=header_line)
        item.body.insert(0, shapes.clean_title(title_text) if title else key or "")
        plan.items.append(item)
        if deps_col is not None:
            for ref in shapes.references(values[deps_col]):
                plan.edges.append(Edge(item, ref, row.line))


def _body_cell(text: str) -> str:
    return re.sub(r"<br\s*/?>", "\n", text)


def settle(plan: Plan) -> None:
    """A row whose id a checklist line, a task heading or an earlier table already defines (or a
    checklist line or heading defines later) is that task again: it adds only what the task lacks
    (priority, estimate) and its dependencies. A table whose rows all repeat tasks defined elsewhere
    is an index table: said once, on its header line."""
    first: dict[str, PlanItem] = {}
    for item in sorted(plan.items, key=lambda i: (i.kind == "row", i.line)):
        if item.key and item.kind != "row":
            first.setdefault(item.key, item)
    for item in sorted(plan.items, key=lambda i: i.line):
        if item.key and item.kind == "row":
            defined = first.get(item.key)
            if defined is None or (defined.kind == "row" and defined.line > item.line):
                first[item.key] = item
    repeats: set[int] = set()
    by_table: dict[int, list[PlanItem]] = {}
    for item in plan.items:
        if item.kind != "row":
            continue
        by_table.setdefault(item.table or 0, []).append(item)
        target = first.get(item.key)
        if target is None or target is item or (target.kind == "row" and target.table == item.table):
            continue
        target.priority = target.priority or item.priority
        target.estimate = target.estimate or item.estimate
        repeats.add(id(item))
        for edge in plan.edges:
            if edge.later is item:
                edge.later = target
    for header_line, rows in by_table.items():
        if all(id(row) in repeats for row in rows):
            plan.warn(header_line, f"index table: its {len(rows)} rows repeat tasks defined elsewhere in the "
                                   "plan; read for their priorities and dependencies only")
    plan.items = [item for item in plan.items if id(item) not in repeats]
