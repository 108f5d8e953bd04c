"""What the agent CLIs print about limits, read as they really print it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from orchestrator.formats.agent_output import around_limit, cli_error, find_limit, reset_time, strip_ansi
from orchestrator.formats.settings import USAGE_LIMIT_MESSAGES

NOW = datetime(2026, 12, 2, 20, 0, tzinfo=UTC)
UTC = UTC


@pytest.mark.parametrize("line", [
    "Rate limit reached for gpt-4o in organization org-x on tokens per min. Please try again in 20s.",
    "Error: 429 Too Many Requests",
    "You've hit your usage limit. Upgrade to Pro or try again at 10:15 PM.",
    '{"type":"error","error":{"code":"usage_limit_reached"}}',
    "Claude AI usage limit reached|1796250000",
    "[API Error: RESOURCE_EXHAUSTED: Quota exceeded for quota metric 'Generate Content API requests']",
    "litellm.RateLimitError: RateLimitError: OpenAIException - Rate limit reached",
])
def test_the_real_limit_messages_are_recognised(line):
    assert find_limit(line, USAGE_LIMIT_MESSAGES) is not None


def test_ordinary_output_is_not_a_limit():
    assert find_limit("Implemented the login redirect; all 42 tests pass.", USAGE_LIMIT_MESSAGES) is None


@pytest.mark.parametrize("text, expected", [
    ("429 Too Many Requests\nRetry-After: 30", NOW + timedelta(seconds=30)),
    ("Please try again in 20s.", NOW + timedelta(seconds=20)),
    ("try again in 5 minutes", NOW + timedelta(minutes=5)),
    ("You've hit your usage limit. Try again at 10:15 PM.", datetime(2026, 12, 2, 22, 15, tzinfo=UTC)),
    ("resets at 7am", datetime(2026, 12, 3, 7, 0, tzinfo=UTC)),  # 7am today has passed: tomorrow
    ("Claude AI usage limit reached|1796250000", datetime.fromtimestamp(1796250000, tz=UTC)),
    ("limit resets at 2026-12-02T22:30:00Z", datetime(2026, 12, 2, 22, 30, tzinfo=UTC)),
])
def test_reset_times_in_the_forms_the_clis_print(text, expected):
    assert reset_time(text, NOW, UTC) == expected


def test_no_time_named_and_absurd_times_are_bounded():
    assert reset_time("usage limit reached", NOW, UTC) is None
    assert reset_time("at 5 we stop", NOW, UTC) is None
    assert reset_time("try again in 90 days", NOW, UTC) == NOW + timedelta(days=7)
    assert reset_time("limit resets at 2020-01-01T00:00:00Z", NOW, UTC) == NOW


def test_the_reset_time_is_read_beside_the_limit_message_not_anywhere_in_the_log():
    lines = ["Working on the 2026-12-01T09:00:00Z migration (see CHANGELOG 2027-03-01)",
             *[f"step {i}" for i in range(40)],
             "Error: 429 Too Many Requests", "Retry-After: 120", '{"error": {"code": "rate_limit_exceeded"}}',
             *[f"cleanup {i}" for i in range(20)]]
    message, nearby = around_limit(lines, "too many requests")
    assert message == "Error: 429 Too Many Requests"
    assert "2026-12-01" not in nearby and "cleanup 19" not in nearby
    assert reset_time(nearby, NOW, UTC) == NOW + timedelta(seconds=120)
    # The newest mention wins; codex's curly apostrophe matches the plain pattern.
    again = ["You\u2019ve hit your usage limit. Try again at 9:00 PM.", "retrying",
             "You\u2019ve hit your usage limit. Try again at 10:15 PM."]
    message, nearby = around_limit(again, "you've hit your usage limit")
    assert message == again[-1] and reset_time(message, NOW, UTC) == datetime(2026, 12, 2, 22, 15, tzinfo=UTC)
    # An exit code said it (no message): the last lines, not the whole log.
    assert around_limit(["x"] * 30 + ["resets at 2026-12-02T23:00:00Z"], None)[1].count("x") == 11


def test_a_local_clock_time_is_read_in_the_machines_zone():
    cet = timezone(timedelta(hours=1))
    assert reset_time("try again at 10:15 PM", NOW, cet) == datetime(2026, 12, 2, 21, 15, tzinfo=UTC)


def test_terminal_escapes_are_stripped():
    assert strip_ansi("\x1b[1;31mError:\x1b[0m boom\x1b]0;title\x07\r\n") == "Error: boom\n"


def test_a_clis_own_retry_is_not_the_providers_reset_time():
    now = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    assert reset_time("Retrying in 4.0 seconds...", now) is None  # aider's own backoff
    assert reset_time("Please retry in 20s.", now) == now + timedelta(seconds=20)  # gemini's quota reset


# What the CLIs printed when our fake model answered HTTP 500 (claude 2.1.332, codex 0.171.0,
# opencode 1.18.33, gemini 0.61.0; shortened where the line goes on with ids and headers).
CLI_ERRORS = {
    "claude": ['{"total_cost_usd":0,"terminal_reason":"api_error","is_error":true,"api_error_status":500,'
               '"result":"API Error: 500 Internal server error. This is a server-side issue.","type":"result"}'],
    "codex": ['{"type":"turn.started"}',
              '{"type":"error","message":"We\u2019re currently experiencing high demand."}',
              '{"type":"turn.failed","error":{"message":"We\u2019re currently experiencing high demand."}}'],
    "opencode": ['{"type":"error","timestamp":1796652877854,"sessionID":"ses_x","error":{"name":"APIError",'
                 '"data":{"message":"The server had an error.","statusCode":500,"isRetryable":true}}}'],
    "gemini": ["Attempt 1 failed: ... Max attempts reached", "{", '  "session_id": "aa1f",', '  "error": {',
               '    "type": "Error",',
               '    "message": "{\\"error\\":{\\"code\\":500,\\"message\\":\\"Internal error encountered.\\",'
               '\\"status\\":\\"INTERNAL\\"}}",', '    "code": 500', "  }", "}"],
}


@pytest.mark.parametrize("cli, expected", [
    ("claude", "API Error: 500 Internal server error. This is a server-side issue."),
    ("codex", "We\u2019re currently experiencing high demand."),
    ("opencode", "APIError 500: The server had an error."),
    ("gemini", "500 INTERNAL: Internal error encountered."),
])
def test_the_error_a_cli_reports_in_json_is_read_in_its_own_words(cli, expected):
    assert cli_error(CLI_ERRORS[cli]) == expected


def test_json_output_without_an_error_is_no_error():
    assert cli_error(['{"type":"result","is_error":false,"result":"Done."}', '{"type":"turn.completed"}']) is None
    assert cli_error(["{", '  "response": "ok"', "}"]) is None
    assert cli_error(["plain text: error here"]) is None
