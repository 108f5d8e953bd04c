"""Tokens and cost, as the five CLIs print them (lines taken from runs of the pinned versions)."""

from __future__ import annotations

import json

from orchestrator.formats.usage import Usage, usage_of

CLAUDE = ['{"type":"result","subtype":"success","is_error":false,"total_cost_usd":0.104504,"usage":'
          '{"input_tokens":25686,"cache_creation_input_tokens":10,"cache_read_input_tokens":4,"output_tokens":88},'
          '"modelUsage":{"claude-opus-5-5":{"inputTokens":25686}}}']
CODEX = ['Reading additional input from stdin...', '{"type":"thread.started","thread_id":"x"}',
         '{"type":"turn.completed","usage":{"input_tokens":28363,"cached_input_tokens":0,"output_tokens":176,'
         '"reasoning_output_tokens":4}}']
OPENCODE = ['{"type":"step_finish","part":{"type":"step-finish","tokens":{"total":2587,"input":2540,"output":47,'
            '"reasoning":0,"cache":{"write":0,"read":3}},"cost":0.01}}',
            '{"type":"text","part":{"text":"Done"}}',
            '{"type":"step_finish","part":{"tokens":{"input":2647,"output":8,"reasoning":1,"cache":{}},"cost":0.02}}']
GEMINI = ["Loaded cached credentials.", *json.dumps({"response": "Done.", "stats": {"models": {
    "gemini-3.5-flash-lite": {"tokens": {"prompt": 852, "candidates": 19, "total": 871, "thoughts": 0},
                              "roles": {"utility_router": {}}},
    "gemini-3.8-flash": {"tokens": {"prompt": 36939, "candidates": 110, "total": 37049, "thoughts": 5},
                         "roles": {"main": {}}}}}}, indent=2).splitlines()]
AIDER = ["Aider v0.86.2", "Model: openai/fake-model with whole edit format",
         "Tokens: 910 sent, 20 received. Cost: $0.0025 message, $0.0025 session.",
         "Tokens: 1.2k sent, 50 received. Cost: $0.0040 message, $0.0065 session.", "Applied edit to FAKE_EDIT.md"]


def test_each_clis_report_is_read():
    assert usage_of(CLAUDE) == Usage(25700, 88, 0.104504, "claude-opus-5-5")
    assert usage_of(CODEX) == Usage(28363, 180, None, None)
    assert usage_of(OPENCODE) == Usage(2540 + 3 + 2647, 47 + 8 + 1, 0.03, None)
    assert usage_of(GEMINI) == Usage(852 + 36939, 19 + 110 + 5, None, "gemini-3.8-flash")
    assert usage_of(AIDER) == Usage(910 + 1200, 70, 0.0065, "openai/fake-model")


def test_output_without_a_report_has_no_usage():
    assert usage_of(["hello", "{not json", '{"type": "other"}', "{", "  broken"]) is None
    assert usage_of([]) is None
