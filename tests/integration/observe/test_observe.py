"""status, history and stats, and the journal's rotation, against known contents."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from orchestrator.observe import stats
from orchestrator.store.journal import Journal
from orchestrator.tick.scheduler import Scheduler

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_status_against_a_queue_in_every_state(env, agents_dir):
    env.write_config([env.agent("impl-1", "slow.py", env={"SLEEP": "5"}), env.agent("flaky", "fail.py", role="risky"),
                      env.agent("off", role="docs", paused=True)], max_attempts=1, max_running=2)
    env.enqueue("done-one")
    env.queue.transition("done-one", "incoming", "done", actor="test")
    env.enqueue("review-me")
    env.queue.transition("review-me", "incoming", "provisional", actor="test")
    env.enqueue("held")
    env.queue.transition("held", "incoming", "blocked", actor="test", updates={"blocked_reason": "needs the API key"})
    env.enqueue("broken", role="risky")
    env.enqueue("waiting-docs", role="docs")
    env.enqueue("running")
    (env.config.queue_dir / "incoming" / "junk.md").write_text("---\ntitle: [\n---\n")
    scheduler = Scheduler(env.config)
    scheduler.tick()
    env.wait_until(lambda: env.state_of("broken") == "failed", what="the failure")
    env.wait_until(lambda: (env.config.state_dir / "runs" / "running" / "1" / "agent.json").exists(), what="agent")
    data = json.loads(env.cli("status", "--json").stdout)
    assert data["counts"] == {"blocked": 1, "incoming": 1, "claimed": 1, "provisional": 1, "landing": 0, "done": 1,
                              "failed": 1}
    running = data["running"][0]
    assert running["task"] == "running" and running["agent"] == "impl-1" and running["timeout_seconds"] == 3600
    assert running["rss_mb"] > 0 and running["elapsed_seconds"] is not None
    needs = [(r["task"], r["state"]) for r in data["needs_you"]]
    assert needs == [("review-me", "provisional"), ("held", "blocked"), ("broken", "failed")]
    assert [a["name"] for a in data["agents"] if a["paused"]] == ["off"]
    assert data["invalid"][0]["file"] == "junk.md" and data["config_ok"] is True and data["last_tick"]
    text = env.cli("status").stdout  # piped: plain text, no colour codes
    assert "\x1b[" not in text
    assert "needs you:" in text and "held" in text and "needs the API key" in text
    assert "off paused: paused: true in agents.yaml" in text and "quarantined" in text
    env.drain(timeout=60)


def journal_with_known_contents(tmp_path) -> Journal:
    j = Journal(tmp_path / "events.jsonl")
    at = lambda minutes: T0 + timedelta(minutes=minutes)  # noqa: E731
    j.append("enqueued", task="a", actor="person", now=at(0), role="implement")
    j.append("started", task="a", actor="runner", now=at(1), agent="impl-1", attempt=1)
    j.append("retry", task="a", actor="runner", now=at(3), agent="impl-1", attempt=1, outcome="timeout",
             **{"from": "claimed", "to": "incoming"})
    j.append("started", task="a", actor="runner", now=at(4), agent="impl-2", attempt=2)
    j.append("succeeded", task="a", actor="runner", now=at(8), agent="impl-2", attempt=2,
             **{"from": "claimed", "to": "provisional"})
    j.append("rejected", task="a", actor="person", now=at(9), reason="add tests", **{"from": "provisional", "to": "incoming"})
    j.append("enqueued", task="b", actor="person", now=at(10), role="docs")
    j.append("started", task="b", actor="runner", now=at(12), agent="writer", attempt=1)
    j.append("succeeded", task="b", actor="runner", now=at(13), agent="writer", attempt=1,
             **{"from": "claimed", "to": "provisional"})
    j.append("accepted", task="b", actor="person", now=at(14), **{"from": "provisional", "to": "done"})
    return j


def test_history_of_a_task(tmp_path):
    j = journal_with_known_contents(tmp_path)
    events = stats.history(j, "a")
    assert [e["event"] for e in events] == ["enqueued", "started", "retry", "started", "succeeded", "rejected"]
    text = stats.render_history("a", events, now=datetime(2026, 11, 1, 12, 10, tzinfo=UTC))
    # People read one form everywhere: relative, with the UTC time beside it; --json keeps ISO.
    assert "7m ago (12:03:00Z)      retry          claimed -> incoming" in text, text
    assert "runner (impl-1) attempt 1" in text
    later = stats.render_history("a", events, now=datetime(2026, 11, 3, 12, 0, tzinfo=UTC))
    assert "1d ago (2026-11-01 12:03:00Z)  retry" in later, later
    assert "rejected       provisional -> incoming    person: add tests" in text


def test_stats_per_agent_and_role(tmp_path):
    data = stats.compute(journal_with_known_contents(tmp_path))
    a1, a2, w = data["agents"]["impl-1"], data["agents"]["impl-2"], data["agents"]["writer"]
    assert (a1["attempts"], a1["successes"], a1["failures"]) == (1, 0, {"timeout": 1})
    assert a1["duration_seconds"]["median"] == 120.0 and a1["wait_before_start_seconds"]["median"] == 60.0
    assert (a2["successes"], a2["rejected"], a2["duration_seconds"]["median"]) == (1, 1, 240.0)
    assert (w["accepted"], w["wait_before_start_seconds"]["median"]) == (1, 120.0)
    assert data["roles"]["implement"]["attempts"] == 2 and data["roles"]["docs"]["accepted"] == 1
    (tmp_path / "again").mkdir()
    later = stats.compute(journal_with_known_contents(tmp_path / "again"), since=T0 + timedelta(minutes=11))
    assert list(later["agents"]) == ["writer"]
    assert "impl-1" in stats.render_stats(data)


def test_rotation_keeps_every_line_in_order(tmp_path):
    j = Journal(tmp_path / "events.jsonl", max_bytes=2000)
    for n in range(200):
        j.append("tick", task=f"t{n}", n=n)
    assert len(j.files()) > 5
    assert [e["n"] for e in j.read()] == list(range(200))
