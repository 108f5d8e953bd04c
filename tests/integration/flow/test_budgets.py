"""Tokens, cost and budgets: what the agent's CLI reports is kept with the attempt, shown by show
and stats, and a budget reached holds the work for a person (never a silent failure)."""

from __future__ import annotations

import json
import textwrap

from orchestrator.tick.scheduler import Scheduler
from tests.support import RecordingNotifier


def costly_agent(env, name: str, cost: float, exit_code: int) -> dict:
    """Prints aider's usage line for `cost`, commits a file, exits with exit_code."""
    path = env.agents_dir / name
    path.write_text(textwrap.dedent(f"""
        import os, pathlib, subprocess, sys
        print("Model: openai/fake-model with whole edit format")
        print("Tokens: 1.5k sent, 40 received. Cost: ${cost:.2f} message, ${cost:.2f} session.")
        name = os.environ["ORCH_TASK_ID"] + "-" + os.environ["ORCH_ATTEMPT"] + ".txt"
        pathlib.Path(name).write_text("work\\n")
        sys.exit({exit_code})
    """))
    return {"name": "impl-1", "command": [env.agent("x")["command"][0], str(path)]}


def test_tokens_and_cost_reach_show_and_stats(env):
    env.write_config([costly_agent(env, "ok.py", 0.25, 0)])
    env.enqueue("t1")
    env.drain()
    shown = json.loads(env.cli("show", "t1", "--json").stdout)
    run = shown["runs"][0]
    assert (run["input_tokens"], run["output_tokens"], run["cost_usd"], run["model"]) == \
        (1500, 40, 0.25, "openai/fake-model")
    assert shown["cost_usd"] == 0.25 and shown["tokens"] == 1540
    assert "1500 tokens in, 40 out, $0.2500" in env.cli("show", "t1").stdout
    stats = json.loads(env.cli("stats", "--json").stdout)
    assert stats["agents"]["impl-1"]["cost_usd"] == 0.25 and stats["agents"]["impl-1"]["input_tokens"] == 1500
    (day, agents), = stats["days"].items()
    assert agents["impl-1"] == {"input_tokens": 1500, "output_tokens": 40, "cost_usd": 0.25}


def test_a_task_that_reached_max_cost_waits_for_a_person(env, tmp_path):
    notifier = RecordingNotifier(tmp_path / "told")
    env.write_config([{**costly_agent(env, "fails.py", 0.5, 1), "max_cost_usd": 0.8}], max_attempts=5,
                     notify=[notifier.entry])
    scheduler = Scheduler(env.config)
    scheduler.tick()  # the notifications' cursor starts here
    env.enqueue("t1")
    env.drain()
    task = env.read("t1")
    assert env.state_of("t1") == "blocked", (env.state_of("t1"), task.last_error)
    assert "spent $1.00 of max_cost_usd $0.80 over 2 attempt(s)" in task.blocked_reason
    assert "needs you" in env.cli("status").stdout
    # The person is told, with the figure and what to do.
    scheduler.tick()
    env.wait_until(lambda: notifier.told("blocked", "t1") is not None, what="the notification")
    assert "max_cost_usd $0.80" in notifier.told("blocked", "t1")["reason"]


def test_an_agent_that_spent_its_daily_budget_rests_until_midnight(env):
    env.write_config([{**costly_agent(env, "ok.py", 0.6, 0), "daily_budget_usd": 1.0}])
    for task_id in ("t1", "t2", "t3"):
        env.enqueue(task_id)
    env.drain()
    assert [env.state_of(t) for t in ("t1", "t2", "t3")] == ["provisional", "provisional", "incoming"]
    status = json.loads(env.cli("status", "--json").stdout)
    agent = status["agents"][0]
    assert agent["paused"] and "daily budget reached: $1.20 of daily_budget_usd $1.00" in agent["paused_reason"]
    assert any(row["task"] == "agent impl-1" for row in status["needs_you"])
    paused = [e for e in env.events() if e["event"] == "agent_paused"]
    assert paused and "T00:00:00" in paused[0]["until"]
