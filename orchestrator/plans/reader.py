"""Reading a Markdown plan: checklist tasks, task tables, phases, [P] markers, dependencies.

Teams write plans in different shapes; this reads what they have in common (see
docs/IMPORT.md for the rules) and never depends on one team's quirks:
- checklist lines `- [ ] T012 [P] Description` are tasks; `- [x]` lines are done and skipped;
  nested checklist items and indented lines become lines of their parent's body;
- headings group tasks into phases (the shallowest heading level that splits the tasks);
- tables with a Task/Title column are tasks, one per row; a Status column saying done skips a row;
- dependencies come from "depends on / requires / after / blocked by" and "before / blocks /
  required for" in prose and task text, and from table columns such as "Depends On", when both
  sides name task ids (ranges like T006-T018 included).
Code blocks are ignored. Text with damaged encoding is read as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.base.errors import UsageError
from orchestrator.formats.task import slugify

ID_PATTERN = r"(?:[A-Z][A-Z0-9]*-\d+|[A-Z]\d{2,}|#\d+)"
_ID_AT_START = re.compile(rf"^(?:\*\*)?({ID_PATTERN})(?:\*\*)?(?:[:.)]|\s+-)?\s+")
_ID_TOKEN = re.compile(rf"(?<![\w/-]){ID_PATTERN}(?![\w-])")
_RANGE = re.compile(r"(?<![\w-])([A-Z]+-?)(\d+)\s*(?:-|–|—|\.\.|to)\s*(?:\1)?(\d+)(?![\w-])")
_CHECK = re.compile(r"^(\s*)[-*+]\s+\[([ xX])\]\s*(.*)$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_PARALLEL = re.compile(r"\[P\]\s*")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_AFTER = re.compile(r"\b(depends on|depend on|requires|required|needs|after|blocked by|waits for)\b", re.I)
_BEFORE = re.compile(r"\b(before|blocks|required for|required by|needed for|prerequisite for)\b", re.I)
_DONE_WORDS = re.compile(r"\b(done|complete|completed|merged|closed|finished)\b|✅|âœ…|✔|✓|\[x\]", re.I)
TITLE_COLUMNS = ("task", "title", "name", "summary", "item")
ID_COLUMNS = ("id", "#", "key", "task id")
STATUS_COLUMNS = ("status", "state")
BODY_COLUMNS = ("description", "details", "notes", "scope")
DEPENDS_COLUMNS = ("depends on", "dependencies", "depends", "blocked by", "prerequisites", "requires", "after")
MAX_TITLE = 160


@dataclass
class PlanItem:
    key: str  # the plan's id (T012, TASK-030, #12) or one made from the title
    title: str
    line: int
    done: bool
    parallel: bool = False
    phase: int = -1  # index into Plan.phases, -1 when the plan has no phases
    from_table: bool = False
    body: list[str] = field(default_factory=list)
    has_plan_id: bool = False


@dataclass
class Plan:
    source: str
    items: list[PlanItem] = field(default_factory=list)
    phases: list[str] = field(default_factory=list)
    edges: list[tuple[str, str, int]] = field(default_factory=list)  # (task, depends on, line)


def read_plan(path: Path) -> Plan:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    if b"\x00" in raw[:65536]:
        raise UsageError(f"{path}: not a text file (import reads Markdown plans)")
    return parse_plan(raw.decode("utf-8", errors="replace"), str(path))


def parse_plan(text: str, source: str) -> Plan:
    plan = Plan(source)
    lines = text.splitlines()
    headings: list[tuple[int, str, int]] = []  # (level, text, line)
    enclosing: list[list[int]] = []  # per item: indexes into headings that enclose it
    stack: list[int] = []
    in_fence, current, current_indent = False, None, 0
    prose: list[tuple[int, str, PlanItem | None]] = []
    table: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if table and not line.lstrip().startswith("|"):
            _read_table(plan, table, headings, stack, enclosing)
            table = []
        heading = _HEADING.match(line)
        if heading:
            level = len(heading.group(1))
            while stack and headings[stack[-1]][0] >= level:
                stack.pop()
            headings.append((level, heading.group(2), number))
            stack.append(len(headings) - 1)
            current = None
            continue
        check = _CHECK.match(line)
        if check:
            indent = len(check.group(1).expandtabs(4))
            if current is not None and indent > current_indent:
                current.body.append(line.strip())  # a nested item: part of its parent's body
                continue
            current, current_indent = _checklist_item(plan, check, number), indent
            enclosing.append(list(stack))
            prose.append((number, check.group(3), current))
            continue
        if line.lstrip().startswith("|"):
            table.append((number, line))
            current = None
            continue
        if current is not None and line.startswith((" ", "\t")) and line.strip():
            current.body.append(line.strip())
            continue
        if line.strip():
            current = None
            prose.append((number, line, None))
    if table:
        _read_table(plan, table, headings, stack, enclosing)
    _assign_phases(plan, headings, enclosing)
    _key_untitled(plan)
    known = {item.key for item in plan.items}
    for number, line, item in prose:
        plan.edges.extend(_prose_edges(line, number, known, item.key if item else None))
    return plan


def _key_untitled(plan: Plan) -> None:
    """Give tasks the plan did not number a key made from their title, unique within the plan."""
    taken = {item.key for item in plan.items if item.key}
    for item in plan.items:
        if item.key:
            continue
        base = slugify(item.title, 50)
        key, n = base, 2
        while key in taken:
            key, n = f"{base}-{n}", n + 1
        item.key = key
        taken.add(key)


def _checklist_item(plan: Plan, check: re.Match, number: int) -> PlanItem:
    text = check.group(3).strip()
    if not text:
        raise UsageError(f"{plan.source}:{number}: a checklist item without a description (write what to do)")
    parallel = text.startswith("[P]")  # the marker may stand before the id or after it
    key, rest = _split_id(_PARALLEL.sub("", text, count=1) if parallel else text)
    if not parallel and rest.startswith("[P]"):
        parallel, rest = True, _PARALLEL.sub("", rest, count=1).strip()
    item = PlanItem(key=key or "", title=_title(rest or text), line=number, done=check.group(2) in "xX",
                    parallel=parallel, body=[text], has_plan_id=bool(key))
    plan.items.append(item)
    return item


def _split_id(text: str) -> tuple[str | None, str]:
    match = _ID_AT_START.match(text)
    if not match:
        return None, text
    return match.group(1), text[match.end():].strip()


def _title(text: str) -> str:
    text = _LINK.sub(r"\1", text).replace("**", "").replace("`", "").strip(" :-")
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 1].rstrip() + "…"


def _plain(text: str) -> str:
    return _LINK.sub(r"\1", text)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    cleaned = [re.sub(r"[^a-z# ]", "", h.lower()).strip() for h in header]
    for name in names:
        if name in cleaned:
            return cleaned.index(name)
    return None


def _read_table(plan: Plan, rows: list[tuple[int, str]], headings, stack, enclosing) -> None:
    if len(rows) < 2 or not re.fullmatch(r"[\s|:\-]+", rows[1][1]):
        return
    header = _cells(rows[0][1])
    title_col, id_col = _column(header, TITLE_COLUMNS), _column(header, ID_COLUMNS)
    status_col, body_col = _column(header, STATUS_COLUMNS), _column(header, BODY_COLUMNS)
    deps_col = _column(header, DEPENDS_COLUMNS)
    if title_col is None and id_col is None:
        return  # not a table of tasks (a legend, a comparison)
    for number, line in rows[2:]:
        cells = _cells(line) + [""] * len(header)
        title_text = _title(cells[title_col]) if title_col is not None else ""
        key = _split_id(cells[id_col].replace("**", ""))[0] or cells[id_col].replace("**", "").strip() \
            if id_col is not None else None
        key_from_title, title = _split_id(title_text + " ") if title_text else (None, "")
        key = key or key_from_title or (title_text if _ID_TOKEN.fullmatch(title_text) else None)
        title = title.strip() if key_from_title else title_text
        if deps_col is not None and key:
            for dep in _expand(cells[deps_col], None):
                plan.edges.append((key, dep, number))
        if not title or (key and title == key):
            continue  # the row only refers to a task defined elsewhere
        done = bool(status_col is not None and _DONE_WORDS.search(cells[status_col]))
        body = [f"{header[i]}: {_plain(c)}" for i, c in enumerate(cells[: len(header)])
                if c and i not in (title_col, id_col)]
        if body_col is not None and cells[body_col]:
            body.insert(0, _plain(cells[body_col]))
        plan.items.append(PlanItem(key=key or "", title=title, line=number, done=done, from_table=True,
                                   body=body, has_plan_id=bool(key)))
        enclosing.append(list(stack))


def _assign_phases(plan: Plan, headings, enclosing) -> None:
    """Phases are the headings of the shallowest level at which at least two headings hold tasks."""
    for level in range(1, 7):
        holders = {h for stack in enclosing for h in stack if headings[h][0] == level}
        if len(holders) >= 2:
            break
    else:
        return
    order = sorted(holders)
    plan.phases = [headings[h][1] for h in order]
    for item, stack in zip(plan.items, enclosing, strict=True):
        at_level = [h for h in stack if headings[h][0] == level]
        item.phase = order.index(at_level[0]) if at_level else -1


def _expand(text: str, known: set[str] | None) -> list[str]:
    """Task ids named in text, with ranges (T006-T018) expanded; only known ids when known is given."""
    found: list[str] = []
    for match in _RANGE.finditer(text):
        prefix, start, end = match.group(1), match.group(2), match.group(3)
        if int(end) - int(start) > 500 or int(end) < int(start):
            continue
        width = len(start)
        found.extend(f"{prefix}{n:0{width}d}" for n in range(int(start), int(end) + 1))
    text = _RANGE.sub(" ", text)
    found.extend(m.group(0) for m in _ID_TOKEN.finditer(text))
    seen = []
    for key in found:
        if key not in seen and (known is None or key in known):
            seen.append(key)
    return seen


def _prose_edges(line: str, number: int, known: set[str], own: str | None) -> list[tuple[str, str, int]]:
    """Edges stated in one line of prose, when both sides name known task ids.

    In a task's own line, a side that names no id means the task itself ("... (depends on T010)").
    """
    for pattern, later_first in ((_AFTER, True), (_BEFORE, False)):
        match = pattern.search(line)
        if not match:
            continue
        left, right = _expand(line[: match.start()], known), _expand(line[match.end():], known)
        if own is not None:
            left = [k for k in left if k != own] or [own]
        if not left or not right:
            continue
        later, earlier = (left, right) if later_first else (right, left)
        return [(a, b, number) for a in later for b in earlier if a != b]
    return []
