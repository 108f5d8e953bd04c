"""The task file format: YAML frontmatter, then a Markdown body.

    ---
    id: fix-login
    title: Fix the login redirect
    priority: P1
    depends_on: [schema-migration]
    ---
    The body is the prompt the agent reads.

Parse once into a frozen Task; render it back when the queue rewrites runtime fields.
Fields a person may write are USER_FIELDS; RUNTIME_FIELDS belong to the orchestrator and
are refused from untrusted sources (the CLI, outboxes, imports).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

import yaml

from orchestrator.base.errors import TaskFileError
from orchestrator.formats.schema import Field, Located, SchemaError, SchemaErrors, load_yaml, parse_fields

PRIORITIES = ("P0", "P1", "P2", "P3")
DEFAULT_ROLE = "implement"
DEFAULT_PRIORITY = "P2"
MAX_ID_LENGTH = 100
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(10)} | {f"lpt{i}" for i in range(10)}
# libyaml's emitter writes the same text ~10x faster (an import of 2,000 tasks renders 2,000 files).
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_HEADING_RE = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def id_problem(value: str) -> str | None:
    """Why value cannot be a task id, or None. Ids become file names and branch names."""
    if not isinstance(value, str) or not value:
        return "a task id must be a non-empty string"
    if "\x00" in value:
        return "a task id must not contain NUL bytes"
    if len(value) > MAX_ID_LENGTH:
        return f"task id is {len(value)} characters long; the limit is {MAX_ID_LENGTH}"
    if not _ID_RE.match(value):
        return (f"task id {value!r} may only use letters, digits, '-', '_' and '.', "
                "and must start with a letter or digit")
    if ".." in value or value.endswith(".") or value.lower().endswith(".lock"):
        return f"task id {value!r} must not contain '..' or end with '.' or '.lock' (git refuses such branch names)"
    if value.split(".")[0].lower() in _WINDOWS_RESERVED:
        return f"task id {value!r} is a reserved device name on Windows"
    return None


def slugify(text: str, max_length: int = 40) -> str:
    """A task id made from a title: lower-case words joined by dashes ("task" when none are left),
    cut at a word when it is longer than max_length (unless one word alone is)."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if len(slug) > max_length:
        cut = slug[: max_length + 1].rsplit("-", 1)[0] if "-" in slug[: max_length + 1] else ""
        slug = (cut or slug[:max_length]).strip("-")
    return slug or "task"


def check_id(value: str) -> str:
    problem = id_problem(value)
    if problem:
        raise TaskFileError(problem)
    return value


def _check_id_list(values: tuple[str, ...]) -> str | None:
    for v in values:
        problem = id_problem(v)
        if problem:
            return problem
    return None


USER_FIELDS = [
    Field("id", "str", check=id_problem),
    Field("title", "str"),
    Field("role", "str", default=DEFAULT_ROLE),
    Field("priority", "str", default=DEFAULT_PRIORITY, choices=PRIORITIES),
    Field("depends_on", "strlist", default=(), check=_check_id_list),
    Field("agent", "str"),
    Field("max_attempts", "int", minimum=1, maximum=100),
    Field("created", "any"),
    Field("parent", "str", check=id_problem),
    Field("sparse_paths", "strlist", default=(), help="check out only these paths (large repositories)"),
    Field("estimate", "str", help="how long the plan expects it to take, as the plan wrote it (2h, 3 days)"),
]
RUNTIME_FIELDS = [
    Field("attempts", "int", default=0, minimum=0),
    Field("retry_after", "any"),
    Field("last_error", "str"),
    Field("feedback", "strlist", default=()),
    Field("blocked_reason", "str"),
    Field("subtasks", "strlist", default=()),
    Field("accepted_at", "any"),
    Field("land_attempts", "int", default=0, minimum=0),
]
RUNTIME_NAMES = frozenset(f.name for f in RUNTIME_FIELDS)


@dataclass(frozen=True)
class Task:
    id: str
    title: str
    body: str = ""
    role: str = DEFAULT_ROLE
    priority: str = DEFAULT_PRIORITY
    depends_on: tuple[str, ...] = ()
    agent: str | None = None
    max_attempts: int | None = None
    created: datetime | None = None
    parent: str | None = None
    sparse_paths: tuple[str, ...] = ()
    estimate: str | None = None
    # Owned by the orchestrator: counted attempts, backoff, why it last failed, review feedback.
    attempts: int = 0
    retry_after: datetime | None = None
    last_error: str | None = None
    feedback: tuple[str, ...] = field(default=())
    blocked_reason: str | None = None  # set when a person must act; dependency release leaves it alone
    subtasks: tuple[str, ...] = field(default=())  # a broken-down task waits for these, then is done
    accepted_at: datetime | None = None  # when it went to landing/: the merge queue's order within a priority
    land_attempts: int = 0  # times the merge queue sent the branch back (a conflict or a failed check)

    def with_updates(self, **changes: Any) -> Task:
        return replace(self, **changes)


def _as_utc(value: Any, where: Located, key: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise SchemaError(where.at(key), f"must be a timestamp like 2026-01-31T12:00:00Z, got {value!r}",
                      "write an ISO 8601 date and time")


def split_frontmatter(text: str) -> tuple[str | None, str]:
    """Return (frontmatter text or None, body)."""
    if not (text.startswith("---\n") or text.startswith("---\r\n")):
        return None, text
    lines = text.splitlines(keepends=True)
    for index in range(1, len(lines)):
        if lines[index].rstrip("\r\n") in ("---", "..."):
            return "".join(lines[1:index]), "".join(lines[index + 1:]).lstrip("\n")
    raise SchemaError("line 1", "frontmatter starts with '---' but has no closing '---' line",
                      "add a line with just '---' after the last key")


def parse(text: str, *, file_id: str, source: str, trusted: bool = True) -> Task:
    """Parse a task file's text. file_id is the id the file name gives.

    trusted=False (CLI, outbox, import) refuses the orchestrator's runtime fields.
    Raises TaskFileError naming the file, the line and the key.
    """
    try:
        return _parse(text, file_id=file_id, source=source, trusted=trusted)
    except SchemaError as exc:
        errors = exc.errors if isinstance(exc, SchemaErrors) else [exc]
        raise TaskFileError("\n".join(_in_file(error, source).render() for error in errors)) from None


def _in_file(error: SchemaError, source: str) -> SchemaError:
    where = error.where if error.where.startswith(source) else f"{source}: {error.where}".rstrip(": ")
    return SchemaError(where, error.problem, error.fix)


def _parse(text: str, *, file_id: str, source: str, trusted: bool) -> Task:
    if "\x00" in text:
        raise SchemaError(source, "is a binary file, not a Markdown task", "write the task as UTF-8 text")
    front, body = split_frontmatter(text)
    data: Any = {}
    lines: dict = {}
    if front is not None:
        data, lines = load_yaml(front, source, line_offset=1)
        if data is None:
            data = {}
    return _build(data, Located(source, lines, line_offset=1), body, file_id=file_id, source=source, trusted=trusted)


def from_fields(fields: dict[str, Any], body: str, *, file_id: str, source: str) -> Task:
    """A new task from values given outside a file (the CLI, the Python API), checked as a task
    file's frontmatter would be (untrusted: runtime fields are refused). Raises TaskFileError."""
    try:
        return _build(fields, Located(source), body, file_id=file_id, source=source, trusted=False)
    except SchemaError as exc:
        raise TaskFileError(exc.render()) from None


def _build(data: Any, where: Located, body: str, *, file_id: str, source: str, trusted: bool) -> Task:
    allowed = USER_FIELDS + (RUNTIME_FIELDS if trusted else [])
    if not trusted and isinstance(data, dict):
        for key in data:
            if key in RUNTIME_NAMES:
                raise SchemaError(where.at(key), f"'{key}' is set by the orchestrator, not in a task file",
                                  f"remove '{key}'")
    values = parse_fields(data, allowed, where, "the task frontmatter")
    task_id = values["id"] or file_id
    if values["id"] and values["id"] != file_id:
        raise SchemaError(where.at("id"), f"id '{values['id']}' does not match the file name '{file_id}.md'",
                          f"rename the file to {values['id']}.md or remove the id line")
    problem = id_problem(task_id)
    if problem:
        raise SchemaError(source, problem, "rename the file to a valid id")
    title = values["title"]
    if not title:
        heading = _HEADING_RE.search(body)
        if not heading:
            raise SchemaError(where.at(), "the task has no title",
                              "add 'title: ...' to the frontmatter or start the body with a '# Heading'")
        title = heading.group(1)
    if not title.strip() or len(title) > 500:
        raise SchemaError(where.at("title"), "the title must be 1 to 500 characters", "shorten or fill in the title")
    if task_id in values["depends_on"]:
        raise SchemaError(where.at("depends_on"), "a task cannot depend on itself", f"remove '{task_id}'")
    return Task(
        id=task_id,
        title=title.strip(),
        body=body,
        role=values["role"],
        priority=values["priority"],
        depends_on=values["depends_on"],
        agent=values["agent"],
        max_attempts=values["max_attempts"],
        created=_as_utc(values["created"], where, "created"),
        parent=values["parent"],
        sparse_paths=values["sparse_paths"],
        estimate=values["estimate"],
        attempts=values.get("attempts") or 0,
        retry_after=_as_utc(values.get("retry_after"), where, "retry_after"),
        last_error=values.get("last_error"),
        feedback=values.get("feedback") or (),
        blocked_reason=values.get("blocked_reason"),
        subtasks=values.get("subtasks") or (),
        accepted_at=_as_utc(values.get("accepted_at"), where, "accepted_at"),
        land_attempts=values.get("land_attempts") or 0,
    )


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# The frontmatter of most tasks is short ints and plain words, which PyYAML renders at ~0.1 ms a task
# through its representer: too slow for an import of thousands. _fast_head writes exactly what
# yaml.dump would for those values (tests/unit/formats/test_task_render.py compares the two) and
# returns None for anything else, which yaml.dump then renders.
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.,/()' :-]*")
_RESOLVER = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"
_FAST_WIDTH = 80  # a plain scalar near the dump's width of 100 would be folded: leave those to yaml


def _fast_scalar(key_width: int, value: Any) -> str | None:
    if type(value) is int:
        return str(value)
    if type(value) is not str or len(value) + key_width > _FAST_WIDTH or not _PLAIN.fullmatch(value) \
            or value.endswith((" ", ":")) or "  " in value or " '" in value or ": " in value:
        return None
    if _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == _STR_TAG:
        return value
    return None if "'" in value else f"'{value}'"  # a word that reads as a bool, number or date


def _fast_head(front: dict[str, Any]) -> str | None:
    out = []
    for key, value in front.items():
        if type(value) is list:
            out.append(f"{key}:\n")
            for item in value:
                text = _fast_scalar(2, item)
                if text is None:
                    return None
                out.append(f"- {text}\n")
            continue
        text = _fast_scalar(len(key) + 2, value)
        if text is None:
            return None
        out.append(f"{key}: {text}\n")
    return "".join(out)


def render(task: Task) -> str:
    """The file text for task: frontmatter with the keys that differ from their defaults."""
    front: dict[str, Any] = {"id": task.id, "title": task.title}
    if task.role != DEFAULT_ROLE:
        front["role"] = task.role
    front["priority"] = task.priority
    if task.depends_on:
        front["depends_on"] = list(task.depends_on)
    for key in ("agent", "max_attempts", "parent", "estimate"):
        if getattr(task, key) is not None:
            front[key] = getattr(task, key)
    if task.sparse_paths:
        front["sparse_paths"] = list(task.sparse_paths)
    if task.created:
        front["created"] = _iso(task.created)
    if task.attempts:
        front["attempts"] = task.attempts
    if task.retry_after:
        front["retry_after"] = _iso(task.retry_after)
    if task.last_error:
        front["last_error"] = task.last_error
    if task.feedback:
        front["feedback"] = list(task.feedback)
    if task.blocked_reason:
        front["blocked_reason"] = task.blocked_reason
    if task.subtasks:
        front["subtasks"] = list(task.subtasks)
    if task.accepted_at:
        front["accepted_at"] = _iso(task.accepted_at)
    if task.land_attempts:
        front["land_attempts"] = task.land_attempts
    head = _fast_head(front)
    if head is None:
        head = yaml.dump(front, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=100)
    body = task.body if task.body.endswith("\n") or not task.body else task.body + "\n"
    return f"---\n{head}---\n\n{body}"
