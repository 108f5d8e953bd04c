"""Keeping secrets out of logs and the event journal.

A value is hidden when its key looks like a secret (KEY, TOKEN, SECRET, PASSWORD, ...), at any
depth (an agent's env mapping inside an event), and `NAME=value` pairs inside strings are
hidden the same way.
"""

from __future__ import annotations

import re
from typing import Any

SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.IGNORECASE)
_ASSIGNMENT = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)[A-Za-z0-9_]*)"
                         r"=(\S+)", re.IGNORECASE)
HIDDEN = "***"


def redact(value: Any, key: str | None = None, depth: int = 0) -> Any:
    # A number under a secret-looking name is a count (input_tokens), not a secret.
    counted = isinstance(value, (int, float)) and not isinstance(value, bool)
    if key is not None and SECRET_NAME.search(key) and value not in (None, "", [], {}) and not counted:
        return HIDDEN
    if depth > 6:
        return value
    if isinstance(value, dict):
        return {k: redact(v, str(k), depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v, None, depth + 1) for v in value]
    if isinstance(value, str) and "=" in value:
        return _ASSIGNMENT.sub(lambda m: f"{m.group(1)}={HIDDEN}", value)
    return value


def structlog_processor(_logger, _method, event_dict: dict) -> dict:
    return {k: (v if k in ("event", "level", "timestamp") else redact(v, k)) for k, v in event_dict.items()}


def secret_values(env: dict[str, str]) -> list[str]:
    """The values of secret-looking variables, longest first (so no secret is half-replaced)."""
    return sorted({v for k, v in env.items() if SECRET_NAME.search(k) and len(v) >= 6}, key=len, reverse=True)


def scrub(text: str, values: list[str]) -> str:
    for value in values:
        text = text.replace(value, HIDDEN)
    return text
