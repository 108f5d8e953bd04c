"""Dependencies drawn rather than written: mermaid graphs, arrows in text (`A ──► B`, `A -> B`), and
vertical drawings in code blocks (a line naming A, a `▼` under it, a line naming B). In every case B
waits for A. Only references are returned; order.py decides what they name."""

from __future__ import annotations

import itertools
import re

from orchestrator.plans import shapes

ARROW = re.compile(r"\s*(?:─+►|─+>|-{1,3}>|=+>|→|⟶|➜|➔|►|—+>|–+>)\s*")
_DOWN = re.compile(r"[▼↓⬇v]")
_CONNECTOR_LINE = re.compile(r"^[\s│|┃▼↓⬇v┌┐└┘├┤┬┴┼─━]*$")
_MERMAID_EDGE = re.compile(r"\s*(?:(?:-->|==>|-\.->)\|[^|]*\||--\s*[^-|>]+\s*-->|-->|==>|-\.+->|--[ox](?!\w)|~~~>)\s*")
_MERMAID_NODE = re.compile(r"(?<![\w-])([A-Za-z0-9_]+)\s*(?:\[\[?|\(\(?|\{\{?)([^\]\)\}]*)(?:\]\]?|\)\)?|\}\}?)")


def repaired(text: str) -> str:
    """A drawing saved through the wrong encoding (`â”€â”€â–º` for `──►`) read as drawn. Only the
    arrows are read from it: titles keep the text as it is."""
    if "â" not in text:
        return text
    try:
        return text.encode("cp1252").decode("utf-8", errors="replace")
    except UnicodeEncodeError:
        return text


def inline(text: str) -> list[tuple[str, str]]:
    """Edges of a line `T001 ──► T002 ──► T003` (each waits for the one before)."""
    parts = ARROW.split(repaired(text))
    if len(parts) < 2:
        return []
    refs = [shapes.references(part) for part in parts]
    edges: list[tuple[str, str]] = []
    for before, after in itertools.pairwise(refs):
        edges.extend((later, earlier) for earlier in before for later in after if later != earlier)
    return edges


def in_code(lang: str, code: list[tuple[int, str]]) -> list[tuple[str, str, int]]:
    if lang == "mermaid":
        return _mermaid(code)
    code = [(number, repaired(text)) for number, text in code]
    edges = [(later, earlier, number) for number, text in code for later, earlier in inline(text)]
    return edges + vertical(code)


def _mermaid(code: list[tuple[int, str]]) -> list[tuple[str, str, int]]:
    labels: dict[str, list[str]] = {}
    for _, text in code:
        for node, label in _MERMAID_NODE.findall(text):
            refs = shapes.references(label)
            if refs:
                labels.setdefault(node, refs)
    edges: list[tuple[str, str, int]] = []
    for number, text in code:
        if text.strip().startswith(("%%", "classDef", "class ", "style ", "linkStyle", "click ")):
            continue
        stripped = _MERMAID_NODE.sub(lambda m: m.group(1), text.strip().rstrip(";"))
        parts = _MERMAID_EDGE.split(stripped)
        if len(parts) < 2:
            continue
        sides = [[n for node in part.split("&") for n in labels.get(node.strip(), [node.strip()])] for part in parts]
        for before, after in itertools.pairwise(sides):
            edges.extend((later, earlier, number) for earlier in before for later in after if later != earlier)
    return edges


def _spans(text: str) -> list[tuple[int, str]]:
    """(column, reference) of each reference in a line of a drawing."""
    found = []
    for ref in shapes.references(text):
        bare = ref.lstrip("#")
        at = text.find(bare)
        if at >= 0:
            found.append((at + len(bare) // 2, ref))
    return found


def vertical(code: list[tuple[int, str]]) -> list[tuple[str, str, int]]:
    edges: list[tuple[str, str, int]] = []
    for i, (number, text) in enumerate(code):
        if not _DOWN.search(text) or not _CONNECTOR_LINE.match(text):
            continue
        above = next((_spans(t) for _, t in reversed(code[:i]) if not _CONNECTOR_LINE.match(t) and _spans(t)), [])
        below = next((_spans(t) for _, t in code[i + 1:] if not _CONNECTOR_LINE.match(t) and _spans(t)), [])
        if not above or not below:
            continue
        for column in (m.start() for m in _DOWN.finditer(text)):
            earlier = min(above, key=lambda span: abs(span[0] - column))[1]
            later = min(below, key=lambda span: abs(span[0] - column))[1]
            if later != earlier:
                edges.append((later, earlier, number))
    return list(dict.fromkeys(edges))
