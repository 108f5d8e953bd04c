"""The shapes a plan's pieces come in: ids, references, priorities, estimates, titles, placeholders.

Pure functions of one piece of text; reader.py puts them together (rules in docs/IMPORT.md).
"""

from __future__ import annotations

import re

# Ids as plans write them: TASK-030, T001, T2.1, T111A, WP01, #12, 05-01.
ID_PATTERN = r"(?:[A-Z][A-Z0-9]*-\d+[A-Z]?|[A-Z]{1,4}\d+(?:\.\d+)*[A-Z]?|#\d+|\d{1,3}-\d{1,3})"
# "Task 12" / "Task #12" name the task #12.
_TASK_WORD_ID = r"(?:Task|Ticket|Issue|Item)\s*#?\s*(\d+)\b"
REF_TOKEN = re.compile(rf"(?<![\w/.#-])(?:{_TASK_WORD_ID}|({ID_PATTERN}))(?![\w-]|\.\d)", re.I)
_NOT_AN_ID = re.compile(r"^(?:P\d+|V\d+(?:\.\d+)*|H[1-6]|HTTP\d*|MD5|SHA\d+|UTF-?\d+|IPV?\d)$", re.I)
_ID_AT_START = re.compile(rf"^(?:\*\*|`|\[)?({ID_PATTERN})(?:\*\*|`|\])?(?:\s*[:.)|]|\s+[-–—])?(?:\s+|$)")
RANGE = re.compile(r"(?<![\w-])([A-Z]+-?)(\d+)\s*(?:-|–|—|\.\.|to|through)\s*(?:\1)?(\d+)(?![\w-]|\.\d)")
# A group named by its heading: "Phase 3", "Phase 3.3", "Milestone 2", "User Story 1", "Work Package WP01".
GROUP_WORDS = r"(?:Phase|Milestone|Stage|Sprint|Part|Step|Epic|User\s+Story|Iteration|Wave)"
GROUP_NAME = re.compile(rf"\b({GROUP_WORDS})\s+(\d+(?:\.\d+)*[A-Z]?)\b", re.I)
OBSIDIAN_ID = re.compile(r"🆔\s*([\w-]+)")
OBSIDIAN_DEPENDS = re.compile(r"⛔\s*([\w-]+(?:\s*,\s*[\w-]+)*)")
_OBSIDIAN_FIELDS = re.compile(r"\s*(?:🆔|⛔|📅|⏳|🛫|➕|✅|❌|🔁|🔺|⏫|🔼|🔽|⏬)\s*(?:[\w.:/-]+(?:\s*,\s*[\w-]+)*)?")

PARALLEL = re.compile(r"\[P\]\s*")
STORY_LABEL = re.compile(r"\[(?:US|S)\d+\]\s*", re.I)
LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]*)[^)]*\)")
STRUCK = re.compile(r"^\s*(~~?)(?=\S)(.+?)(?<=\S)\1\s*$")
_PLACEHOLDER = re.compile(r"^(?:tbd|tba|todo|tk|fixme|placeholder|\?+|…|\.{2,}|-+|\(?to be (?:decided|defined|determined)\)?)"
                          r"\s*[.:!]?$", re.I)

# A heading that names one task: "Task #9: ...", "Task 1: ...", "Work Package WP01: ...", "TASK-030: ...".
TASK_HEADING = re.compile(
    rf"^(?:(?:Task|Ticket|Issue|Item)\s*#?\s*(\d+|{ID_PATTERN})|(?:Work\s+Package\s*#?\s*|WP\s+#?\s*)({ID_PATTERN}|\d+)"
    rf"|(?:\*\*|`)?({ID_PATTERN})(?:\*\*|`)?(?=\s*[:.)]|\s+[-–—]))\s*[:.)\-–—]*\s*(.*)$", re.I)
CRITERIA = re.compile(r"^[\W_]*(?:acceptance|success|exit|completion|done)\s+criteria\b|^[\W_]*definition\s+of\s+done\b"
                      r"|^[\W_]*quality\s+gates?\b|^[\W_]*(?:verification|validation)\s+(?:steps|checklist)\b", re.I)
CONVENTIONS = re.compile(r"\b(?:conventions?|guidelines|ground rules|coding standards|working agreements?)\b", re.I)
PARALLEL_STORIES = re.compile(r"\b(?:user\s+stor(?:y|ies)|stories|phases)\b[^.\n]{0,80}?\b(?:can|may|could)\s+"
                              r"(?:then\s+|now\s+|all\s+)?(?:proceed|run|start|be\s+(?:worked\s+on|implemented|done|built))"
                              r"\s+(?:\w+\s+){0,2}?in\s+parallel", re.I)
STORY_PHASE = re.compile(r"\buser\s+stor(?:y|ies)\b|\bstory\s+\d|\bUS\d+\b", re.I)

# A label line: "**Depends on**: T001", "- Priority: High", "Estimate: 2h"
LABEL = re.compile(r"^\s*(?:[-*+]\s+)?(?:\*\*|__)?([A-Za-z][A-Za-z /]{1,30}?)(?:\*\*|__)?\s*:\s*(?:\*\*|__)?\s*(.*)$")
DEPENDS_LABELS = ("depends on", "dependencies", "dependency", "depends", "blocked by", "prerequisites",
                  "prerequisite", "requires", "after", "waits for", "needs")
PRIORITY_LABELS = ("priority", "prio", "importance", "severity")
ESTIMATE_LABELS = ("estimate", "estimated", "effort", "size", "time estimate", "estimated time", "duration")
AFTER = re.compile(r"\b(depends\s+on|depend\s+on|requires|required(?!\s+(?:for|by))|needs|after|blocked\s+by"
                   r"|waits\s+for)\b", re.I)
BEFORE = re.compile(r"\b(before|blocks|required\s+for|required\s+by|needed\s+for|prerequisite\s+for)\b", re.I)
DONE_WORDS = re.compile(r"\b(done|complete|completed|merged|closed|finished|shipped)\b|✅|âœ…|✔|✓|\[x\]", re.I)

_PRIORITY_WORDS = {"critical": "P0", "urgent": "P0", "blocker": "P0", "highest": "P0", "high": "P1",
                   "medium": "P2", "normal": "P2", "moderate": "P2", "low": "P3", "minor": "P3", "lowest": "P3"}
_PRIORITY_EMOJI = {"🔥": "P0", "🔴": "P1", "🟠": "P1", "🟡": "P2", "🟢": "P3", "🔵": "P3"}
_P_LEVEL = re.compile(r"(?<![\w-])P(\d)(?![\w-])")
_PRIORITY_WORD = re.compile(r"\b(critical|urgent|blocker|highest|high|medium|normal|moderate|lowest|low|minor)\b"
                            r"|\bnice[\s-]to[\s-]have\b", re.I)
_PRIORITY_NOTE = re.compile(
    r"\s*(?:\(\s*(?:priority|prio)\s*:?\s*[^)]*\)|\[\s*(?:P\d|critical|high|medium|low)\s*\]"
    r"|(?:🔥|🔴|🟠|🟡|🟢|🔵)(?:\s*(?:critical|urgent|high|medium|normal|low|minor)\b)?"
    r"|\b(?:priority|prio)\s*:\s*(?:P\d|\w+))", re.I)
_ESTIMATE_NOTE = re.compile(r"\s*\(\s*(?:est\.?|estimate[ds]?|effort|~)\s*:?\s*([^)]+)\)"
                            r"|\s*\b(?:est\.?|estimate)\s*:\s*(\d+(?:\.\d+)?\s*(?:h|hours?|d|days?|w|weeks?|pts?|points?|m|min))\b",
                            re.I)
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")


def split_leading_id(text: str) -> tuple[str | None, str]:
    """The id a task's text starts with (T012, TASK-030, #12, 05-01, 🆔 x anywhere), and the rest."""
    match = _ID_AT_START.match(text)
    if match and not _NOT_AN_ID.match(match.group(1)):
        return match.group(1), text[match.end():].strip()
    return None, text


def obsidian_id(text: str) -> str | None:
    match = OBSIDIAN_ID.search(text)
    return match.group(1) if match else None


def obsidian_depends(text: str) -> list[str]:
    match = OBSIDIAN_DEPENDS.search(text)
    return [part.strip() for part in match.group(1).split(",") if part.strip()] if match else []


def canonical(ref: str) -> str:
    """The key a reference means: '#12', 'Task 12' and 'task #12' all mean '#12'."""
    match = re.fullmatch(rf"{_TASK_WORD_ID}", ref.strip(), re.I)
    return f"#{match.group(1)}" if match else ref.strip()


def references(text: str) -> list[str]:
    """Every id-shaped reference in text, in order, ranges (T006-T018) expanded, group names
    ("Phase 3", "WP01") included as they are written (resolving them is order.py's job)."""
    found: list[str] = []
    for match in RANGE.finditer(text):
        prefix, start, end = match.group(1), match.group(2), match.group(3)
        if int(end) < int(start) or int(end) - int(start) > 500:
            continue
        found.extend(f"{prefix}{n:0{len(start)}d}" for n in range(int(start), int(end) + 1))
    rest = RANGE.sub(" ", text)
    for match in GROUP_NAME.finditer(rest):
        found.append(group_key(match.group(1), match.group(2)))
    rest = GROUP_NAME.sub(" ", rest)
    for match in REF_TOKEN.finditer(rest):
        if match.group(1):
            found.append(f"#{match.group(1)}")
        elif not _NOT_AN_ID.match(match.group(2)):
            found.append(match.group(2))
    return list(dict.fromkeys(found))


def group_key(word: str, number: str) -> str:
    """'Phase', '3.3' -> 'phase 3.3': how a group name is looked up."""
    return f"{' '.join(word.lower().split())} {number.lower()}"


def priority_of(text: str) -> tuple[str | None, str | None]:
    """The priority text states (P0-P3, a word, an emoji), and a warning for P4 and lower."""
    word = _PRIORITY_WORD.search(text)
    if word:
        return ("P3" if word.group(1) is None else _PRIORITY_WORDS[word.group(1).lower()]), None
    level = _P_LEVEL.search(text)
    if level:
        n = int(level.group(1))
        return (f"P{min(n, 3)}", f"priority P{n} read as P3 (the lowest here is P3)" if n > 3 else None)
    for emoji, priority in _PRIORITY_EMOJI.items():
        if emoji in text:
            return priority, None
    return None, None


def inline_priority(text: str) -> tuple[str | None, str | None]:
    """A priority written into a task's own line: '(Priority: P1)', '[high]', '🔴 High', 'Priority: High'."""
    notes = [m.group(0) for m in _PRIORITY_NOTE.finditer(text)]
    return priority_of(" ".join(notes)) if notes else (None, None)


def inline_estimate(text: str) -> str | None:
    match = _ESTIMATE_NOTE.search(text)
    return (match.group(1) or match.group(2)).strip() if match else None


def strip_comments(text: str) -> str:
    return re.sub(r"<!--.*?-->", "", text, flags=re.S)


def clean_title(text: str, *, max_length: int = 160) -> str:
    """A task's title as a person would say it: no Markdown, labels, annotations or fields."""
    text = strip_comments(text)
    text = _OBSIDIAN_FIELDS.sub(" ", text)
    text = PARALLEL.sub(" ", text)
    text = STORY_LABEL.sub(" ", text)
    text = _ESTIMATE_NOTE.sub(" ", text)
    text = _PRIORITY_NOTE.sub(" ", text)
    text = LINK.sub(r"\1", text)
    text = _HTML_TAG.sub("", text)
    text = "".join(part if i % 2 else _unemphasised(part) for i, part in enumerate(re.split(r"`([^`]*)`", text)))
    text = " ".join(text.split()).strip(" :-–—")
    return text if len(text) <= max_length else text[: max_length - 1].rstrip() + "…"


def _unemphasised(text: str) -> str:
    """Bold and italics out of text outside code spans; underscores inside words stay (__init__)."""
    text = text.replace("**", "")
    text = re.sub(r"(?<![\w_])__(?=\S)(.+?)(?<=\S)__(?![\w_])", r"\1", text)
    text = re.sub(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])", r"\1", text)
    return re.sub(r"(?<![\w_/.])_(?=\S)(.+?)(?<=\S)_(?![\w_])", r"\1", text)


def is_placeholder(title: str) -> bool:
    return not title or bool(_PLACEHOLDER.match(title))


def struck(text: str) -> bool:
    """The whole item is struck through: ~~Custom names~~ or ~Custom names~ (after its id, if any)."""
    return bool(STRUCK.match(strip_comments(text)))


def label(line: str) -> tuple[str, str] | None:
    """('depends on', 'T001, T002') for a label line, or None."""
    match = LABEL.match(line)
    if not match:
        return None
    name = " ".join(match.group(1).lower().split())
    return name, match.group(2).strip().strip("*_").strip()


def is_done_text(text: str) -> bool:
    return bool(DONE_WORDS.search(text))
