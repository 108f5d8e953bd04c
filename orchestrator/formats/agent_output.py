"""Reading what agent CLIs print: usage-limit messages, when a limit resets, terminal escapes.

Pure functions over text. The limit messages the CLIs really print are the defaults of the
`usage_limit_patterns` setting (formats/settings.py); presets add their own.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

MAX_COOLDOWN = timedelta(days=7)

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def strip_ansi(text: str) -> str:
    """Text without terminal escapes (colours, cursor moves, titles) and stray control characters."""
    return _CONTROL.sub("", _ANSI.sub("", text.replace("\r\n", "\n").replace("\r", "\n")))


def _fold(text: str) -> str:
    return text.replace("\u2019", "'").casefold()  # codex prints "You\u2019ve hit your usage limit"


def find_limit(text: str, patterns: tuple[str, ...]) -> str | None:
    """The first pattern (case-insensitive substring) found in text, or None."""
    folded = _fold(text)
    return next((p for p in patterns if p.casefold() in folded), None)


LINES_BEFORE_LIMIT, LINES_AFTER_LIMIT = 3, 12


def around_limit(lines: list[str], pattern: str | None) -> tuple[str, str]:
    """The newest line naming the limit, and the text around it (a few lines before: a status line,
    a Retry-After header; more after: the JSON error body): where its reset time is. Without a
    pattern (an exit code said it), the last lines. A date earlier in the log is not the reset."""
    wanted = _fold(pattern) if pattern else None
    at = next((i for i in range(len(lines) - 1, -1, -1) if wanted and wanted in _fold(lines[i])), None)
    if at is None:
        return (lines[-1] if lines else ""), "\n".join(lines[-LINES_AFTER_LIMIT:])
    return lines[at], "\n".join(lines[max(0, at - LINES_BEFORE_LIMIT):at + LINES_AFTER_LIMIT + 1])


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RETRY_AFTER = re.compile(r"retry[-_ ]after[\"']?\s*[:=]?\s*[\"']?(\d+(?:\.\d+)?)\s*(s|sec|seconds?)?\b", re.I)
# Not "Retrying in 4.0 seconds": that is the CLI's own retry (aider prints it), not the provider's reset.
_IN = re.compile(r"(?<!retrying )\b(?:in|after|wait)\s+(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hrs?|hours?|d|days?)\b",
                 re.I)
_ISO = re.compile(r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)")
_CLOCK = re.compile(r"\b(?:at|until|resets?(?:\s+at)?)\s+(\d{1,2})(?::(\d{2}))?\s*([ap]\.?m\.?)?(?!\s*\d)", re.I)
_EPOCH = re.compile(r"(?:\b(?:reset|resets_at|reset_at|resetsAt)[\"']?\s*[:=]?\s*[\"']?|limit reached\|)(1\d{9})\b",
                    re.I)  # Claude Code prints "Claude AI usage limit reached|<unix time>"


def reset_time(text: str, now: datetime, local_tz: timezone | None = None) -> datetime | None:
    """When the limit the text reports lifts, in the forms the CLIs print: `Retry-After: 30`, `try
    again in 20 minutes`, `try again at 10:15 PM` (the machine's local time), an ISO timestamp, a
    Unix time (`resets_at: 1767225600`). None when the text names no time. Never more than a week
    ahead, never in the past."""
    found = _first_time(text, now, local_tz or _local_zone())
    if found is None:
        return None
    return min(max(found, now), now + MAX_COOLDOWN)


def _first_time(text: str, now: datetime, local_tz: timezone) -> datetime | None:
    if match := _EPOCH.search(text):
        return datetime.fromtimestamp(int(match.group(1)), tz=UTC)
    if match := _ISO.search(text):
        try:
            named = datetime.fromisoformat(match.group(1).replace("Z", "+00:00").replace(" ", "T"))
        except ValueError:
            pass
        else:
            return named if named.tzinfo else named.replace(tzinfo=local_tz)
    if match := _RETRY_AFTER.search(text):
        return now + timedelta(seconds=float(match.group(1)))
    if match := _IN.search(text):
        return now + timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2).lower()[0]])
    if match := _CLOCK.search(text):
        return _next_clock_time(match, now, local_tz)
    return None


def _next_clock_time(match: re.Match[str], now: datetime, local_tz: timezone) -> datetime | None:
    hour, minute, meridiem = int(match.group(1)), int(match.group(2) or 0), (match.group(3) or "").lower()
    if meridiem.startswith("p") and hour < 12:
        hour += 12
    elif meridiem.startswith("a") and hour == 12:
        hour = 0
    if not meridiem and match.group(2) is None:
        return None  # a bare number ("at 5") is too vague to be a time
    if hour > 23 or minute > 59:
        return None
    local_now = now.astimezone(local_tz)
    candidate = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if candidate <= local_now:
        candidate += timedelta(days=1)
    return candidate.astimezone(UTC)


def _local_zone() -> timezone:
    offset = datetime.now().astimezone().utcoffset() or timedelta(0)
    return timezone(offset)


def only_tool_noise(changes: dict[str, list[str]], noise: tuple[str, ...]) -> bool:
    """Do these changes (path -> changed lines, from Repo.changes) touch only what agent tools write
    for themselves? A .gitignore counts as noise when every line it adds or removes names such a file
    (aider adds `.aider*`), or is blank or a comment."""
    if not changes:
        return True
    for path, lines in changes.items():
        if _is_noise(path, noise):
            continue
        if _is_gitignore(path) and all(_noise_line(line[1:], noise) for line in lines):
            continue
        return False
    return True


def plainly_real(paths: tuple[str, ...], noise: tuple[str, ...]) -> bool:
    """Is one of these changed paths a real change whatever its lines: neither a file agent tools
    write for themselves nor a .gitignore (whose lines only_tool_noise must read)?"""
    return any(not _is_noise(path, noise) and not _is_gitignore(path) for path in paths)


def _is_gitignore(path: str) -> bool:
    return path.rsplit("/", 1)[-1] == ".gitignore"


def _is_noise(path: str, noise: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], p) for p in noise)


def _noise_line(line: str, noise: tuple[str, ...]) -> bool:
    entry = line.strip().lstrip("/")
    return not entry or entry.startswith("#") or entry in noise or _is_noise(entry.rstrip("/*"), noise)


def json_events(lines: list[str]) -> Iterator[dict]:
    """The JSON objects among the lines, one a line (claude's, codex's and opencode's JSON output)."""
    for line in lines:
        if line.startswith("{") and (event := _json_object(line)) is not None:
            yield event


def final_json_document(lines: list[str]) -> dict | None:
    """The indented JSON object the output ends with (gemini -o json), or None."""
    starts = [i for i, line in enumerate(lines) if line.rstrip() == "{"]
    for start in reversed(starts):
        doc = _json_object("\n".join(lines[start:]))
        if doc is not None:
            return doc
    return None


def cli_error(lines: list[str]) -> str | None:
    """The error the CLI reported in its JSON output, in its own words, or None: claude's result
    with is_error, codex's turn.failed or error event, opencode's error event, gemini's error object.
    (Their raw JSON lines would fill last_error with session ids and headers.)"""
    for event in reversed(list(json_events(lines))):
        if message := _event_error(event):
            return message[:500]
    doc = final_json_document(lines)
    error = doc.get("error") if doc is not None else None
    return _api_error(error)[:500] if isinstance(error, dict) else None


def _json_object(text: str) -> dict | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _event_error(event: dict) -> str | None:
    kind = event.get("type")
    if kind == "result" and event.get("is_error"):  # claude -p --output-format json
        return str(event.get("result") or event.get("subtype") or "error")
    if kind == "turn.failed" and isinstance(event.get("error"), dict):  # codex exec --json
        return str(event["error"].get("message") or "turn failed")
    if kind == "error" and isinstance(event.get("message"), str):  # codex
        return event["message"]
    if kind == "error" and isinstance(event.get("error"), dict):  # opencode run --format json
        error = event["error"]
        data = error.get("data") if isinstance(error.get("data"), dict) else {}
        status = data.get("statusCode")
        return f"{error.get('name') or 'error'}{f' {status}' if status else ''}: {data.get('message') or ''}".rstrip(": ")
    return None


def _api_error(error: dict) -> str:
    """gemini's error object; its message may be the API's own error body, as JSON."""
    message = str(error.get("message") or "error")
    inner = _json_object(message)
    if inner is not None and isinstance(inner.get("error"), dict):
        api = inner["error"]
        return f"{api.get('code', '')} {api.get('status', '')}: {api.get('message', '')}".strip()
    return f"{error.get('code')}: {message}" if error.get("code") else message


_ERROR_LINE = re.compile(r"(\w*error\b|\w*exception\b|traceback|failed to|\bfatal\b)", re.I)


def error_line(lines: list[str]) -> str | None:
    """The agent's own error: the one its JSON output reports (cli_error), else its last error line
    (a traceback's last line, `Error: ...`), without escapes."""
    if reported := cli_error(lines):
        return reported
    for line in reversed(lines):
        clean = strip_ansi(line).strip()
        if clean and _ERROR_LINE.search(clean):
            return clean[:500]
    return None
