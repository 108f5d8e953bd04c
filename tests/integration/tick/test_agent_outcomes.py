"""Limits and false success as the real CLIs produce them (their message forms, printed by scripts).

Issue "Real agent CLIs, end to end", items 5 and 7; the same cases run against the real CLIs and a
fake model server in tests/acceptance/test_real_clis.py.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.base.clock import parse_iso, utcnow
from orchestrator.tick.scheduler import Scheduler
from tests.support import RecordingNotifier


def printing_agent(env, name: str, source: str) -> dict:
    path = env.agents_dir / name
    path.write_text(source)
    return {"name": "impl-1", "command": [sys.executable, str(path)]}


LIMIT_MESSAGES = {
    "aider": "litellm.RateLimitError: RateLimitError: OpenAIException - Rate limit reached for gpt-4o. "
             "Please try again in 20s.",
    "codex": "ERROR: You've hit your usage limit. Upgrade to Pro, or try again at 10:15 PM.",
    "claude-code": "Claude AI usage limit reached|{in_an_hour}",
    "http": "Error: 429 Too Many Requests (Retry-After: 30)",
}


def next_local(hour: int, minute: int) -> datetime:
    local = datetime.now().astimezone()
    at = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return (at if at > local else at + timedelta(days=1)).astimezone(UTC)


def expected_rest(cli: str, in_an_hour: int) -> datetime:
    """Till when each message rests the agent: the time it names (a CLI's "in 20s" and a 30 s
    Retry-After are below the shortest rest, one minute)."""
    minute = utcnow() + timedelta(seconds=60)
    return {"aider": minute, "http": minute, "codex": next_local(22, 15),
            "claude-code": datetime.fromtimestamp(in_an_hour, tz=UTC)}[cli]


@pytest.mark.parametrize("cli", sorted(LIMIT_MESSAGES))
def test_a_limit_message_rests_the_agent_and_spends_no_attempt_even_with_lines_after_it(env, cli):
    in_an_hour = int(time.time()) + 3600
    message = LIMIT_MESSAGES[cli].format(in_an_hour=in_an_hour)
    env.write_config([printing_agent(env, "limited.py", f"""
import sys
print("working on it; the release is due 2027-01-05T09:00:00Z")  # a date, but not the reset
print({message!r})
for n in range(5):
    print("cleanup line", n)   # the message is not among the last lines
sys.exit(1)
""")], max_attempts=1)
    env.enqueue("t1")
    scheduler = Scheduler(env.config)
    scheduler.tick()
    env.wait_until(lambda: env.queue.count("claimed") == 0, what="the attempt")
    scheduler.tick()
    assert env.state_of("t1") == "incoming" and env.read("t1").attempts == 0
    agent = json.loads(env.cli("status", "--json").stdout)["agents"][0]
    assert agent["paused"] and "cooling down until" in agent["paused_reason"]
    assert scheduler.tick().started == []
    until = parse_iso(json.loads((env.config.state_dir / "agents.json").read_text())["impl-1"]["paused_until"])
    assert abs((until - expected_rest(cli, in_an_hour)).total_seconds()) < 30, (until, cli)


def test_a_limit_one_agent_hits_rests_every_agent_of_its_provider_until_a_person_resumes_one(env):
    reset = int(time.time()) + 3600
    limited = printing_agent(env, "limited.py", f"import sys\nprint('Claude AI usage limit reached|{reset}')\n"
                             "sys.exit(1)\n")
    env.write_config([{**limited, "name": "claude-a", "provider": "anthropic"},
                      env.agent("claude-b", provider="anthropic"), env.agent("codex-c", provider="openai")],
                     max_attempts=1)
    env.enqueue("t1", agent="claude-a")
    scheduler = Scheduler(env.config)
    scheduler.tick()
    env.wait_until(lambda: env.queue.count("claimed") == 0, what="the limited attempt")
    scheduler.tick()
    assert env.state_of("t1") == "incoming" and env.read("t1").attempts == 0
    # A task of the same role: claude-b shares claude-a's limit; codex-c (another provider) takes it.
    env.enqueue("t2")
    assert [agent for _, agent in scheduler.tick().started] == ["codex-c"]
    agents = {a["name"]: a for a in json.loads(env.cli("status", "--json").stdout)["agents"]}
    assert agents["claude-b"]["paused"] and "provider anthropic (reached by claude-a)" in agents["claude-b"]["paused_reason"]
    assert not agents["codex-c"]["paused"]
    env.wait_until(lambda: env.state_of("t2") == "provisional", what="codex-c's task")
    # A person who resumes one agent of the provider lifts the limit for all of them.
    assert env.cli("resume", "claude-b").returncode == 0
    env.enqueue("t3")
    started = dict(scheduler.tick().started)
    assert started.get("t1") == "claude-a" and started.get("t3") == "claude-b", started


def test_a_successful_agent_that_mentions_rate_limits_is_not_resting(env):
    env.write_config([printing_agent(env, "limiter.py", """
import os, pathlib, subprocess
pathlib.Path("limiter.py").write_text("# a rate limit exceeded handler\\n")
print("Implemented: rate limit exceeded -> 429 Too Many Requests")
""")], max_attempts=1)
    env.enqueue("t1")
    env.drain(timeout=60)
    assert env.state_of("t1") == "provisional"


def test_exit_0_with_only_aiders_gitignore_line_is_a_failure_with_its_error(env):
    env.write_config([printing_agent(env, "aider_like.py", """
import pathlib
gi = pathlib.Path(".gitignore")
gi.write_text((gi.read_text() if gi.exists() else "") + ".aider*\\n")
print("litellm.APIConnectionError: OpenAIException - Connection error.")
print("Tokens: 0 sent, 0 received.")
""")], max_attempts=1)
    env.enqueue("t1")
    env.drain(timeout=60)
    assert env.state_of("t1") == "failed"
    error = env.read("t1").last_error
    assert "change only files its tool writes" in error and "APIConnectionError" in error


def test_a_tool_file_deeper_in_the_tree_alone_is_no_change(env):
    """The auto-commit's pathspecs leave out only the top's tool files; the verdict still reads a
    nested one as noise (so a commit of it alone is not a success)."""
    env.write_config([printing_agent(env, "nested_noise.py", """
import pathlib
pathlib.Path("pkg").mkdir()
pathlib.Path("pkg/.aider.chat.history.md").write_text("# aider chat\\n")
""")], max_attempts=1)
    env.enqueue("t1")
    env.drain(timeout=60)
    assert env.state_of("t1") == "failed"
    assert "change only files its tool writes" in env.read("t1").last_error


def test_an_agent_that_exits_0_in_the_middle_of_a_conflicted_merge_fails_with_the_files(env):
    env.git("checkout", "-q", "-b", "elsewhere")
    (env.repo / "README.md").write_text("theirs\n")
    env.git("commit", "-q", "-am", "theirs")
    env.git("checkout", "-q", "main")
    env.write_config([printing_agent(env, "merger.py", """
import pathlib, subprocess
pathlib.Path("README.md").write_text("ours\\n")
subprocess.run(["git", "commit", "-q", "-am", "ours"], check=True)
subprocess.run(["git", "merge", "-q", "elsewhere"])  # stops in conflict; the agent exits 0 anyway
""")], max_attempts=1)
    env.enqueue("t1")
    env.drain(timeout=60)
    assert env.state_of("t1") == "failed"
    error = env.read("t1").last_error
    assert "left the merge unfinished: unresolved conflicts in README.md" in error, error


def test_the_agents_error_line_is_the_reason_without_terminal_colours(env, tmp_path):
    notifier = RecordingNotifier(tmp_path / "told")
    crash = printing_agent(env, "crash.py", """
import sys
print("\\x1b[31mTraceback (most recent call last):\\x1b[0m")
print("\\x1b[1mValueError: the config is missing a key\\x1b[0m")
print("bye")
sys.exit(2)
""")
    stuck = printing_agent(env, "stuck.py", """
import json, os, pathlib
pathlib.Path(os.environ["ORCH_RESULT_FILE"]).write_text(json.dumps(
    {"status": "blocked", "reason": "\\x1b[33mneeds the staging password\\x1b[0m"}))
""")
    env.write_config([crash, {**stuck, "name": "impl-2", "role": "ops"}], max_attempts=1, notify=[notifier.entry])
    scheduler = Scheduler(env.config)
    scheduler.tick()  # the notifications' cursor starts here
    env.enqueue("t1")
    env.enqueue("t2", role="ops")
    env.drain(timeout=60)
    error = env.read("t1").last_error
    assert "ValueError: the config is missing a key" in error and "\x1b" not in error
    assert env.read("t2").blocked_reason == "needs the staging password"
    scheduler.tick()
    env.wait_until(lambda: notifier.told("failed", "t1") and notifier.told("blocked", "t2"), what="notifications")
    for told in (notifier.told("failed", "t1"), notifier.told("blocked", "t2")):
        assert "\x1b" not in json.dumps(told) and "\\u001b" not in json.dumps(told), told


def test_status_shows_a_running_agents_last_line_without_terminal_colours(env):
    env.write_config([printing_agent(env, "colour.py", """
import pathlib, time
print("\\x1b[32mEditing src/app.py\\x1b[0m", flush=True)
while not pathlib.Path("stop").exists():
    time.sleep(0.05)
""")])
    env.enqueue("t1")
    from orchestrator.tick.scheduler import Scheduler
    Scheduler(env.config).tick()

    def last_output():
        running = json.loads(env.cli("status", "--json").stdout)["running"]
        return running[0]["last_output"] if running else None
    env.wait_until(lambda: last_output() == "Editing src/app.py", timeout=20, what="the coloured line, plain")
    (env.config.state_dir / "worktrees" / "t1" / "stop").write_text("")
    env.drain(timeout=60)


def test_the_runner_runs_the_maintenance_its_commit_left_out_once_the_task_moved_on(env):
    """Our auto-commit skips `git maintenance run --auto` (the next task should not wait for it);
    the runner runs it after the settle, so the repository is kept as `git commit` keeps it."""
    for key, value in (("maintenance.gc.enabled", "false"), ("maintenance.loose-objects.enabled", "true"),
                       ("maintenance.loose-objects.auto", "1")):
        env.git("config", key, value)
    env.write_config([printing_agent(env, "writer.py", """
import pathlib
pathlib.Path("work.txt").write_text("the agent's work\\n")
""")], max_attempts=1)
    env.enqueue("t1")
    env.drain(timeout=60)
    assert env.state_of("t1") == "provisional"
    assert env.git("log", "-1", "--format=%s", "agent/t1").startswith("t1:")  # the auto-commit made it
    assert list((env.repo / ".git" / "objects" / "pack").glob("*.pack")), "no maintenance ran after the commit"
