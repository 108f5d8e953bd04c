"""A plan's text as a list of blocks a reader can walk: headings, checklist lines, table rows,
text lines and code blocks, each with its line number. HTML comments are removed first (their lines
stay, empty, so numbers keep pointing at the file); a code fence never closed is reported and its
lines are read as text, so one stray ``` does not swallow the rest of the plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
CHECK = re.compile(r"^(\s*)(?:[-*+]|(\d{1,4})[.)])\s+\[([ xX~/>-])\]\s*(.*)$")
# Lines a reader takes for a checklist item that Markdown does not render as one.
NEAR_CHECK = re.compile(r"^\s*(?:[-*+]\[[ xX]?\]|[-*+]\s+\[\]|\[[ xX]?\]\s+\S|\d{1,4}[.)]\s*\[\])")
FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})\s*([\w+-]*)")
TABLE_ROW = re.compile(r"^\s*\|")


@dataclass
class Block:
    kind: str  # heading, check, row, text, blank, code
    line: int
    text: str  # heading text, the checklist item's text, the raw line, or the code's first line
    level: int = 0  # heading level
    indent: int = 0
    mark: str = ""  # the checkbox's mark: " ", "x", ...
    numbered: bool = False
    lang: str = ""  # a code block's language
    code: list[tuple[int, str]] = field(default_factory=list)  # a code block's lines


@dataclass
class Document:
    blocks: list[Block]
    warnings: list[tuple[int, str]]


def _uncomment(text: str) -> str:
    """Remove <!-- ... --> keeping the newlines inside, so line numbers stay true."""
    return re.sub(r"<!--.*?-->", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)


def _fences(lines: list[str]) -> tuple[dict[int, int], list[int]]:
    """Opening line index -> closing line index, and the openings never closed."""
    pairs: dict[int, int] = {}
    unclosed: list[int] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        marker = match.group(1)
        close = next((j for j in range(i + 1, len(lines))
                      if re.match(rf"^\s{{0,3}}{re.escape(marker[0])}{{{len(marker)},}}\s*$", lines[j])), None)
        if close is None:
            unclosed.append(i)
            i += 1
            continue
        pairs[i] = close
        i = close + 1
    return pairs, unclosed


def parse(text: str) -> Document:
    lines = _uncomment(text).splitlines()
    pairs, unclosed = _fences(lines)
    warnings = [(i + 1, "code fence opened here is never closed; the lines after it are read as text")
                for i in unclosed]
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        line, number = lines[i], i + 1
        if i in pairs:
            lang = FENCE.match(line).group(2).lower()  # type: ignore[union-attr]
            blocks.append(Block("code", number, line, lang=lang,
                                code=[(j + 1, lines[j]) for j in range(i + 1, pairs[i])]))
            i = pairs[i] + 1
            continue
        i += 1
        if i - 1 in unclosed:
            continue
        blocks.append(_block(line, number))
    return Document(blocks, warnings)


def _block(line: str, number: int) -> Block:
    if not line.strip():
        return Block("blank", number, "")
    heading = HEADING.match(line)
    if heading:
        return Block("heading", number, heading.group(2), level=len(heading.group(1)))
    check = CHECK.match(line)
    if check:
        return Block("check", number, check.group(4).strip(), indent=len(check.group(1).expandtabs(4)),
                     mark=check.group(3), numbered=check.group(2) is not None)
    if TABLE_ROW.match(line):
        return Block("row", number, line.strip())
    indent = len(line) - len(line.lstrip())
    return Block("text", number, line.rstrip(), indent=len(line[:indent].expandtabs(4)))
