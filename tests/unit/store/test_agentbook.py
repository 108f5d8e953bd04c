"""The agent book: pauses, cooldowns, and usage-limit rests that agents of one provider share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator.base.clock import iso
from orchestrator.store.agentbook import USAGE_LIMIT_REASON, AgentBook

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def hit_limit(book: AgentBook, name: str, provider: str | None, minutes: int) -> None:
    def rest(state):
        state.paused_until, state.paused_reason = iso(NOW + timedelta(minutes=minutes)), USAGE_LIMIT_REASON
        state.limit_provider = provider
    book.update(name, rest)


def test_a_limit_rests_the_providers_other_agents_until_the_latest_reset(tmp_path):
    book = AgentBook(tmp_path)
    hit_limit(book, "claude-a", "anthropic", 30)
    hit_limit(book, "claude-b", "anthropic", 10)
    assert "usage limit reached" in book.paused("claude-a", NOW, "anthropic")
    # claude-b's own rest ends at 12:10; claude-a's goes on to 12:30 and holds claude-b too.
    assert "(reached by claude-a)" in book.paused("claude-b", NOW + timedelta(minutes=15), "anthropic")
    assert "(reached by claude-a)" in book.paused("claude-c", NOW, "anthropic")
    assert book.paused("codex", NOW, "openai") is None and book.paused("plain", NOW) is None
    assert book.paused("claude-c", NOW + timedelta(minutes=31), "anthropic") is None
    # Another reader of the same file sees the same, without a write of its own.
    assert "(reached by claude-a)" in AgentBook(tmp_path).paused("claude-c", NOW, "anthropic")


def test_lifting_a_providers_rest_keeps_a_pause_a_person_made(tmp_path):
    book = AgentBook(tmp_path)
    hit_limit(book, "claude-a", "anthropic", 30)
    hit_limit(book, "claude-b", "anthropic", 30)
    book.update("claude-b", lambda s: setattr(s, "paused_reason", "paused by person"))
    book.lift_provider_rest("anthropic")
    assert book.paused("claude-a", NOW, "anthropic") is None
    assert book.paused("claude-b", NOW, "anthropic") == "paused by person"
    assert book.paused("claude-c", NOW, "anthropic") is None
