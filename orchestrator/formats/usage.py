"""Tokens and cost, read from what the agent CLIs print about themselves.

Each CLI reports differently; the forms below are those of the versions the presets were verified
on (docs/presets/), preferring their JSON output:

    claude -p --output-format json   one object: type "result", usage {input_tokens, cache_*_input_tokens,
                                     output_tokens}, total_cost_usd, modelUsage {model: ...}
    codex exec --json                JSON lines: type "turn.completed", usage {input_tokens, output_tokens,
                                     reasoning_output_tokens}; no cost
    opencode run --format json       JSON lines: type "step_finish", part.tokens {input, output, reasoning,
                                     cache {read, write}}, part.cost
    gemini -o json                   one pretty-printed object: stats.models {model: {tokens {prompt,
                                     candidates, thoughts}}}; no cost
    aider --no-pretty                "Tokens: 1.2k sent, 50 received. Cost: $0.01 message, $0.02 session."
                                     and "Model: openai/x with whole edit format"

The forms do not collide, so no preset needs to say which one to expect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from orchestrator.formats.agent_output import final_json_document, json_events


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int
    cost_usd: float | None = None  # None: the CLI does not say (it is not zero)
    model: str | None = None


def usage_of(lines: list[str]) -> Usage | None:
    """The attempt's usage from its output lines, or None when the CLI reported none."""
    return _from_json_lines(lines) or _gemini(lines) or _aider(lines)


def _from_json_lines(lines: list[str]) -> Usage | None:
    tokens_in = tokens_out = 0
    cost: float | None = None
    model: str | None = None
    seen = False
    for event in json_events(lines):
        kind = event.get("type")
        if kind == "result" and isinstance(event.get("usage"), dict):  # claude: the whole run, once
            usage = event["usage"]
            tokens_in = _int(usage, "input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
            tokens_out = _int(usage, "output_tokens")
            cost = _float(event.get("total_cost_usd"))
            models = event.get("modelUsage")
            model = next(iter(models), None) if isinstance(models, dict) else None
            seen = True
        elif kind == "turn.completed" and isinstance(event.get("usage"), dict):  # codex: per turn
            usage = event["usage"]
            tokens_in += _int(usage, "input_tokens")
            tokens_out += _int(usage, "output_tokens", "reasoning_output_tokens")
            seen = True
        elif kind == "step_finish" and isinstance(event.get("part"), dict):  # opencode: per step
            part = event["part"]
            tokens = _dict(part.get("tokens"))
            cache = _dict(tokens.get("cache"))
            tokens_in += _int(tokens, "input") + _int(cache, "read", "write")
            tokens_out += _int(tokens, "output", "reasoning")
            step_cost = _float(part.get("cost"))
            cost = step_cost if cost is None else cost + (step_cost or 0.0)
            seen = True
    return Usage(tokens_in, tokens_out, cost, model) if seen else None


def _gemini(lines: list[str]) -> Usage | None:
    """gemini -o json prints one indented object last; its stats name every model it called."""
    doc = final_json_document(lines)
    models = _dict(doc.get("stats")).get("models") if doc is not None else None
    if not isinstance(models, dict):
        return None
    tokens_in = tokens_out = 0
    ranked = []  # the model in the "main" role, else the one that used the most tokens
    for name, entry in models.items():
        entry = _dict(entry)
        tokens = _dict(entry.get("tokens"))
        tokens_in += _int(tokens, "prompt")
        tokens_out += _int(tokens, "candidates", "thoughts")
        ranked.append(("main" in (entry.get("roles") or {}), _int(tokens, "total"), name))
    return Usage(tokens_in, tokens_out, None, max(ranked)[2] if ranked else None)


_AIDER_TOKENS = re.compile(r"^Tokens: ([\d.]+)(k?) sent, ([\d.]+)(k?) received\."
                           r"(?: Cost: \$([\d.]+) message, \$([\d.]+) session\.)?")
_AIDER_MODEL = re.compile(r"^(?:Main model|Model): (\S+)")


def _aider(lines: list[str]) -> Usage | None:
    tokens_in = tokens_out = 0
    cost: float | None = None
    model: str | None = None
    seen = False
    for line in lines:
        hit = _AIDER_TOKENS.match(line)
        if hit:
            tokens_in += _count(hit.group(1), hit.group(2))
            tokens_out += _count(hit.group(3), hit.group(4))
            cost = float(hit.group(6)) if hit.group(6) else cost  # the session's total so far
            seen = True
            continue
        named = _AIDER_MODEL.match(line)
        if named and model is None:
            model = named.group(1)
    return Usage(tokens_in, tokens_out, cost, model) if seen else None


def _count(number: str, k: str) -> int:
    return int(round(float(number) * (1000 if k else 1)))


def _int(record: dict, *keys: str) -> int:
    total = 0
    for key in keys:
        value = record.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            total += int(value)
    return total


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
