"""Reading a Markdown plan into items, sections, stated dependencies and warnings.

The rules are in docs/IMPORT.md: tasks come from checklist lines, table rows and task headings;
a task heading's section is its body; sections are groups a reference can name; dependencies are
what the plan states in prose, label lines, tables, mermaid blocks and drawn arrows. Implied
order and the resolution of references are order.py's; this module only reads.
"""

from __future__ import annotations

import re
from pathlib import Path

from orchestrator.base.errors import UsageError
from orchestrator.formats.task import slugify
from orchestrator.plans import arrows, markdown, shapes, tables
from orchestrator.plans.markdown import Block
from orchestrator.plans.model import Edge, Plan, PlanItem, Ref, Section


def read_plan(path: Path) -> Plan:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    if b"\x00" in raw[:65536]:
        raise UsageError(f"{path}: not a text file (import reads Markdown plans)")
    return parse_plan(raw.decode("utf-8", errors="replace"), str(path))


def parse_plan(text: str, source: str) -> Plan:
    document = markdown.parse(text)
    plan = Plan(source, warnings=list(document.warnings))
    _Reader(plan, document.blocks).read()
    tables.settle(plan)
    _dedupe_and_key(plan)
    plan.items.sort(key=lambda item: item.line)
    plan.warnings.sort()
    return plan


class _Reader:
    """One walk over the blocks, keeping the open sections and the item lines belong to."""

    def __init__(self, plan: Plan, blocks: list[Block]):
        self.plan, self.blocks = plan, blocks
        self.stack: list[Section] = []
        self.item: PlanItem | None = None  # the item indented lines and nested checkboxes belong to
        self.item_indent = 0
        self.absorb: PlanItem | None = None  # a skipped item: its nested lines go nowhere
        self.criteria: tuple[int, PlanItem | None] | None = None  # (heading level, owner)
        self.conventions: tuple[int, list[str]] | None = None
        self.task_sections = _task_headings(blocks)
        self.rows: list[Block] = []
        self.paragraph: list[tuple[int, str]] = []  # consecutive text lines: a drawing may be in them

    @property
    def section(self) -> Section | None:
        return self.stack[-1] if self.stack else None

    def heading_task(self) -> PlanItem | None:
        for section in reversed(self.stack):
            if section.task is not None:
                return section.task
        return None

    def read(self) -> None:
        for index, block in enumerate(self.blocks):
            if block.kind != "row" and self.rows:
                self._table()
            if block.kind != "text" and self.paragraph:
                self._drawn()
            if block.kind == "heading":
                self._heading(index, block)
            elif block.kind == "check":
                self._check(block)
            elif block.kind == "row":
                self.rows.append(block)
            elif block.kind == "text":
                self._text(block)
            elif block.kind == "code":
                self._code(block)
        if self.rows:
            self._table()
        if self.paragraph:
            self._drawn()
        self._close_conventions(0)

    # ---- headings ----------------------------------------------------------------------

    def _heading(self, index: int, block: Block) -> None:
        self._close_conventions(block.level)
        owner = self.heading_task()
        while self.stack and self.stack[-1].level >= block.level:
            self.stack.pop()
        if owner is not None and self.heading_task() is owner:  # a sub-heading of a task's section
            owner.body.append("#" * block.level + " " + block.text)
            self._criteria_heading(block)
            return
        self.item = None
        if self.criteria and block.level <= self.criteria[0]:
            self.criteria = None
        text = shapes.strip_comments(block.text)
        section = Section(len(self.plan.sections), block.level, shapes.clean_title(text), block.line,
                          self.section.index if self.section else None)
        section.names = _group_names(text)
        section.priority, warning = _heading_priority(text)
        if warning:
            self.plan.warn(block.line, warning)
        section.estimate = shapes.inline_estimate(text)
        section.story = bool(shapes.STORY_PHASE.search(text))
        self.plan.sections.append(section)
        self.stack.append(section)
        if index in self.task_sections:
            section.task = self._heading_item(block, text, section)
        elif shapes.CONVENTIONS.search(text) and not section.names:
            self.conventions = (block.level, [f"{'#' * block.level} {section.title}"])
        self._criteria_heading(block)

    def _criteria_heading(self, block: Block) -> None:
        if shapes.CRITERIA.match(shapes.clean_title(block.text)):
            self.criteria = (block.level, self.heading_task() or self.item or self._last_item_here())

    def _last_item_here(self) -> PlanItem | None:
        section = self.section
        parent = section.parent if section else None
        for item in reversed(self.plan.items):
            return item if item.section in (parent, section.index if section else None) else None
        return None

    def _heading_item(self, block: Block, text: str, section: Section) -> PlanItem | None:
        match = shapes.TASK_HEADING.match(text.strip())
        assert match is not None
        raw_id = match.group(1) or match.group(2) or match.group(3)
        key = f"#{raw_id}" if raw_id.isdigit() else raw_id.lstrip("#") if raw_id.startswith("#") else raw_id
        key = f"#{key}" if key.isdigit() else key
        title = shapes.clean_title(match.group(4) or "") or shapes.clean_title(text)
        if shapes.struck(match.group(4) or text):
            self.plan.warn(block.line, f"'{title}' is struck through: skipped")
            return None
        if shapes.is_placeholder(shapes.clean_title(match.group(4) or "")):
            self.plan.warn(block.line, f"'{text.strip()}' is a placeholder, not a task: skipped")
            return None
        priority, warning = shapes.inline_priority(text)
        if warning:
            self.plan.warn(block.line, warning)
        item = PlanItem(key=key, title=title, line=block.line, done=shapes.is_done_text(text) and "✅" in text,
                        kind="heading", section=section.parent, has_plan_id=True, priority=priority,
                        estimate=shapes.inline_estimate(text), links=_links(text))
        self.plan.items.append(item)
        return item

    def _close_conventions(self, level: int) -> None:
        if self.conventions and (level == 0 or level <= self.conventions[0]):
            text = "\n".join(self.conventions[1]).strip()
            if self.plan.conventions is None and text.count("\n") >= 1:
                self.plan.conventions = text[:4000]
            self.conventions = None

    # ---- checklist lines ---------------------------------------------------------------

    def _check(self, block: Block) -> None:
        if self.conventions:
            self.conventions[1].append(f"{' ' * block.indent}- [{block.mark}] {block.text}")
        raw = f"{' ' * block.indent}{'1.' if block.numbered else '-'} [{block.mark}] {block.text}".rstrip()
        owner = self.heading_task()
        if owner is not None:
            owner.body.append(raw.strip() if block.indent == 0 else raw)
            self._labels(block.text, owner, block.line)
            return
        if self.absorb is not None and block.indent > self.item_indent:
            return
        if self.item is not None and block.indent > self.item_indent:
            self.item.body.append(raw.strip())
            return
        if self.criteria is not None:
            if self.criteria[1] is not None:
                self.criteria[1].body.append(raw.strip())
            self.plan.skipped += self.criteria[1] is None
            return
        self.absorb, self.item = None, None
        self.item_indent = block.indent
        item = self._checklist_item(block)
        if item is None:
            return
        self.plan.items.append(item)
        self.item = item

    def _checklist_item(self, block: Block) -> PlanItem | None:
        text = shapes.strip_comments(block.text).strip()
        parallel = bool(shapes.PARALLEL.match(text))
        rest = shapes.PARALLEL.sub("", text, count=1).strip() if parallel else text
        key, rest = shapes.split_leading_id(shapes.LINK.sub(r"\1", rest) if rest.startswith("[") else rest)
        if not parallel and shapes.PARALLEL.match(rest):
            parallel, rest = True, shapes.PARALLEL.sub("", rest, count=1).strip()
        key = shapes.obsidian_id(text) or (shapes.canonical(key) if key else None)
        title = shapes.clean_title(rest)
        done = block.mark in "xX"
        if shapes.struck(shapes.STORY_LABEL.sub("", rest)) or shapes.struck(text):
            self.plan.warn(block.line, f"'{title.strip('~')}' is struck through: skipped")
            self.absorb = PlanItem("", "", block.line, True, "check", None)
            return None
        if shapes.is_placeholder(title):
            if done:
                return None
            self.plan.warn(block.line, f"'{text or '(empty)'}' is a placeholder, not a task: skipped")
            self.absorb = PlanItem("", "", block.line, True, "check", None)
            return None
        self.plan.marks_parallel |= parallel
        priority, warning = shapes.inline_priority(rest)
        if warning:
            self.plan.warn(block.line, warning)
        item = PlanItem(key=key or "", title=title, line=block.line, done=done, kind="check",
                        section=self.section.index if self.section else None, parallel=parallel,
                        body=[text], has_plan_id=bool(key), priority=priority,
                        estimate=shapes.inline_estimate(rest), links=_links(text))
        for dep in shapes.obsidian_depends(text):
            self.plan.edges.append(Edge(item, dep, block.line))
        self._prose(shapes.STORY_LABEL.sub("", rest), block.line, own=item)
        return item

    # ---- text lines --------------------------------------------------------------------

    def _text(self, block: Block) -> None:
        text = shapes.strip_comments(block.text)
        if self.conventions:
            self.conventions[1].append(block.text)
        if markdown.NEAR_CHECK.match(text):
            self.plan.warn(block.line, f"'{text.strip()}' is not a checklist item in Markdown "
                                       "(write '- [ ] ...'): not read")
        self.plan.stories_parallel |= bool(shapes.PARALLEL_STORIES.search(text))
        owner = self.heading_task()
        if owner is not None:
            owner.body.append(block.text)
            if not self._labels(text, owner, block.line):
                self._prose(text, block.line, own=owner)
            return
        if self.absorb is not None and block.indent > self.item_indent:
            return
        if self.item is not None and block.indent > self.item_indent:
            self.item.body.append(text.strip())
            if not self._labels(text, self.item, block.line):
                self._prose(text, block.line, own=self.item)
            return
        self.item = self.absorb = None
        if shapes.CRITERIA.match(shapes.clean_title(text)):
            self.criteria = (7, self._last_item_here())  # until the next heading
            return
        if self.section is not None and self._section_labels(text, block.line):
            return
        self._prose(text, block.line, own=None)
        for later, earlier in arrows.inline(text):
            self.plan.edges.append(Edge(later, earlier, block.line))
        self.paragraph.append((block.line, text))

    def _drawn(self) -> None:
        """A drawing in text: `R8 Staging` / `↓` / `R9 Production`."""
        lines, self.paragraph = self.paragraph, []
        for later, earlier, line in arrows.vertical(lines):
            self.plan.edges.append(Edge(later, earlier, line))

    def _labels(self, text: str, item: PlanItem, line: int) -> bool:
        """A label line under a task: its dependencies, priority, estimate. True if it was one."""
        found = shapes.label(text)
        if not found:
            return False
        name, value = found
        if name in shapes.DEPENDS_LABELS:
            for ref in shapes.references(value):
                self.plan.edges.append(Edge(item, ref, line))
            return True
        if name in shapes.PRIORITY_LABELS:
            priority, warning = shapes.priority_of(value)
            item.priority = item.priority or priority
            if warning:
                self.plan.warn(line, warning)
            return True
        if name in shapes.ESTIMATE_LABELS:
            item.estimate = item.estimate or (value or None)
            return True
        if name in ("status", "state"):
            item.done = item.done or shapes.is_done_text(value)
            return True
        return False

    def _section_labels(self, text: str, line: int) -> bool:
        """A label line of a section that is not a task: the whole section's dependencies, priority."""
        found = shapes.label(text)
        section = self.section
        if not found or section is None:
            return False
        name, value = found
        if name in shapes.DEPENDS_LABELS:
            for ref in shapes.references(value):
                self.plan.edges.append(Edge(section.key, ref, line))
            return True
        if name in shapes.PRIORITY_LABELS:
            section.priority, warning = shapes.priority_of(value)
            if warning:
                self.plan.warn(line, warning)
            return True
        if name in shapes.ESTIMATE_LABELS:
            section.estimate = value or None
            return True
        return False

    def _prose(self, text: str, line: int, *, own: PlanItem | None) -> None:
        for later, earlier in _prose_edges(text, own):
            self.plan.edges.append(Edge(later, earlier, line))

    # ---- tables and code ---------------------------------------------------------------

    def _table(self) -> None:
        rows, self.rows = self.rows, []
        owner = self.heading_task()
        if owner is not None:
            owner.body.extend(row.text for row in rows)
            return
        self.item = None
        tables.read(self.plan, rows, self.section.index if self.section else None)

    def _code(self, block: Block) -> None:
        owner = self.heading_task()
        if owner is not None:
            owner.body.extend([block.text] + [text for _, text in block.code] + ["```"])
        for later, earlier, line in arrows.in_code(block.lang, block.code):
            self.plan.edges.append(Edge(later, earlier, line))


def _task_headings(blocks: list[Block]) -> set[int]:
    """Indexes of the headings that name one task: those matching a task heading with no task
    heading and no checklist task with an id of its own below them (those are groups)."""
    tasks: set[int] = set()
    open_: list[tuple[int, int]] = []  # (level, index) of task headings still open
    for index, block in enumerate(blocks):
        if block.kind == "heading":
            while open_ and open_[-1][0] >= block.level:
                open_.pop()
            if shapes.TASK_HEADING.match(shapes.strip_comments(block.text).strip()) \
                    and not shapes.GROUP_NAME.match(block.text.strip()):
                for _, outer in open_:
                    tasks.discard(outer)
                tasks.add(index)
                open_.append((block.level, index))
        elif block.kind == "check" and open_ and block.indent == 0:
            text = shapes.PARALLEL.sub("", shapes.strip_comments(block.text)).strip()
            if shapes.split_leading_id(text)[0]:
                for _, outer in open_:
                    tasks.discard(outer)
    return tasks


def _group_names(text: str) -> list[str]:
    names = []
    match = shapes.GROUP_NAME.match(text.strip())
    if match:
        names.append(shapes.group_key(match.group(1), match.group(2)))
    heading = shapes.TASK_HEADING.match(text.strip())
    if heading and not match:
        raw = heading.group(1) or heading.group(2) or heading.group(3)
        names.append(f"#{raw}" if raw.isdigit() else raw)
    return names


_PRIORITY_HEADING = re.compile(r"\b(?:critical|urgent|high|medium|normal|low)[\s-]+priority\b|\bpriority\s*[:(]"
                               r"|\bP[0-9]\b(?!\s*[:.])|🔥|🔴|🟠|🟡|🟢", re.I)
_PRIORITY_ONLY = re.compile(r"^[\W_]*(?:critical|urgent|high|medium|normal|low|minor|nice[\s-]to[\s-]have)"
                            r"(?:\s*(?:priority|items|tasks))?[\W_]*$", re.I)


def _heading_priority(text: str) -> tuple[str | None, str | None]:
    """A heading's priority: "High Priority", "(Priority: P1)", "Nice to have", "P1 ...", "🔴 ..."."""
    if _PRIORITY_ONLY.match(shapes.clean_title(text)):
        return shapes.priority_of(text)
    if not _PRIORITY_HEADING.search(text):
        return None, None
    return shapes.priority_of(" ".join(m.group(0) for m in re.finditer(
        r"\b(?:critical|urgent|high|medium|normal|low)[\s-]+priority\b|\(\s*priority\s*:?[^)]*\)|priority\s*:\s*\S+"
        r"|🔥|🔴|🟠|🟡|🟢|\bP[0-9]\b", text, re.I)))


def _links(text: str) -> list[str]:
    return [target for _, target in shapes.LINK.findall(text)
            if target and not re.match(r"^(?:[a-z]+:|#|/)", target) and not target.startswith("mailto")]


def _prose_edges(line: str, own: PlanItem | None) -> list[tuple[Ref, Ref]]:
    """Edges stated in one line: 'A depends on B', 'A before B'. In a task's own line or section, a
    side that names nothing is the task itself; elsewhere both sides must name something."""
    found = [(m, later_first) for pattern, later_first in ((shapes.AFTER, True), (shapes.BEFORE, False))
             if (m := pattern.search(line))]
    for match, later_first in sorted(found, key=lambda pair: pair[0].start()):  # the first keyword says it
        left: list[Ref] = [r for r in shapes.references(line[: match.start()]) if own is None or r != own.key]
        right: list[Ref] = [r for r in shapes.references(line[match.end():]) if own is None or r != own.key]
        if own is not None and not left:
            left = [own]
        if not left or not right:
            continue
        later, earlier = (left, right) if later_first else (right, left)
        return [(a, b) for a in later for b in earlier if a != b]
    return []


def _dedupe_and_key(plan: Plan) -> None:
    """Keys in plan order: an id used twice gets -2, -3 (warned); untitled items a key from the title."""
    first: dict[str, int] = {}
    for item in sorted(plan.items, key=lambda i: i.line):
        if not item.key:
            continue
        if item.key in first:
            n = 2
            while f"{item.key}-{n}" in first:
                n += 1
            plan.warn(item.line, f"task id {item.key} is used twice (first at line {first[item.key]}): "
                                 f"this one is imported as {item.key.lstrip('#')}-{n}")
            item.key = f"{item.key}-{n}"
        first[item.key] = item.line
    for item in sorted(plan.items, key=lambda i: i.line):
        if item.key:
            continue
        base = slugify(item.title, 50)
        key, n = base, 2
        while key in first:
            key, n = f"{base}-{n}", n + 1
        item.key = key
        first[key] = item.line
