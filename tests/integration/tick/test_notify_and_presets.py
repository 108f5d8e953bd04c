"""Notifiers receive events; presets expand to each tool's command line (checked with fake executables)."""

from __future__ import annotations

import json
import os
import stat
import sys

import pytest

from orchestrator.formats.presets import PRESETS
from orchestrator.tick.scheduler import Scheduler

RECORDER = """#!{python}
import json, os, pathlib, sys
out = pathlib.Path(os.environ["RECORD_TO"])
out.write_text(json.dumps({{"argv": sys.argv[1:], "stdin": sys.stdin.read() if not sys.stdin.isatty() else "",
                           "event": {{k: v for k, v in os.environ.items() if k.startswith("ORCH_EVENT")}}}}))
pathlib.Path("work.txt").write_text("done") if os.environ.get("ORCH_WORKTREE") else None
"""


def fake(bin_dir, name, record_to):
    path = bin_dir / name
    path.write_text(RECORDER.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return record_to


def test_a_notifier_receives_needs_review_and_failed_events(env, tmp_path):
    records = tmp_path / "events"
    records.mkdir()
    script = tmp_path / "notifier.py"
    script.write_text("import json, os, sys, pathlib\nevent = json.load(sys.stdin)\n"
                      f"pathlib.Path({str(records)!r}, event['kind'] + '-' + event['task']).write_text("
                      "json.dumps({'event': event, 'env': os.environ.get('ORCH_EVENT_TASK')}))\n")
    env.write_config([env.agent("good"), env.agent("bad", "fail.py", role="risky")], max_attempts=1,
                     notify=[{"command": [sys.executable, str(script)]},
                             {"command": ["definitely-missing-notifier"], "events": ["failed"]}])
    scheduler = Scheduler(env.config)
    scheduler.tick()  # the first look starts the cursor: history is not announced
    env.enqueue("t-ok")
    env.enqueue("t-bad", role="risky")
    env.drain()
    scheduler.tick()  # delivers what happened since
    env.wait_until(lambda: len(list(records.iterdir())) == 2, what="two notifications")
    review = json.loads((records / "needs_review-t-ok").read_text())
    assert review["event"]["to"] == "provisional" and review["env"] == "t-ok"
    failed = json.loads((records / "failed-t-bad").read_text())
    assert "exit code 3" in failed["event"]["reason"]
    scheduler.tick()  # nothing is announced twice
    assert len(list(records.iterdir())) == 2


def test_notify_config_is_checked(env):
    from orchestrator.base.errors import ConfigError
    with pytest.raises(ConfigError, match="unknown event 'exploded'"):
        env.write_config([env.agent("a")], notify=[{"command": ["x"], "events": ["exploded"]}])


@pytest.mark.parametrize("preset, must_have", [
    # The flags without which each tool stops to ask a question nobody is there to answer.
    ("claude-code", ["-p", "--dangerously-skip-permissions"]),
    ("codex", ["exec", "--dangerously-bypass-approvals-and-sandbox", "--skip-git-repo-check"]),
    ("aider", ["--message-file", "--yes-always", "--no-check-update"]),
    ("gemini", ["-p", "--approval-mode", "yolo", "--skip-trust"]),
    ("opencode", ["run", "--auto"]),
])
def test_presets_run_the_tools_non_interactive_command_line(env, tmp_path, monkeypatch, preset, must_have):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = fake(bin_dir, PRESETS[preset]["command"][0], tmp_path / "argv.json")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    env.write_config([{"name": "tool", "preset": preset, "env": {"RECORD_TO": str(record)}}])
    env.enqueue("t1")
    env.drain()
    # The prompt is handed over inside the worktree, where sandboxed tools may read it.
    prompt = str(env.config.state_dir / "worktrees" / "t1" / ".orchestrator-prompt.md")
    argv = json.loads(record.read_text())["argv"]
    assert argv == [a.replace("{prompt_file}", prompt) for a in PRESETS[preset]["command"][1:]]
    assert set(must_have) <= set(argv)
    assert any(prompt in a for a in argv), "the command line names the prompt file"
    assert env.state_of("t1") == "provisional"


def test_preset_keys_can_be_overridden_one_by_one_and_lists_add_up(env):
    cfg = env.write_config([{"name": "c", "preset": "claude-code", "command": ["claude", "-p", "custom"],
                             "env_passthrough": ["MY_KEY"]}], env_passthrough=["TEAM_TOKEN"])
    agent = cfg.agents[0]
    assert agent.command == ("claude", "-p", "custom")
    # Lists add up instead of replacing each other: the defaults (proxy and CA variables), the top
    # level, the preset's, the agent's own.
    assert {"HTTPS_PROXY", "SSL_CERT_FILE", "AWS_PROFILE", "TEAM_TOKEN", "MY_KEY"} <= set(agent.env_passthrough)
    assert set(PRESETS["claude-code"]["env_passthrough"]) <= set(agent.env_passthrough)
    assert "usage limit" in agent.usage_limit_patterns  # a default pattern the preset did not name
    assert set(PRESETS["claude-code"]["usage_limit_patterns"]) <= set(agent.usage_limit_patterns)


def test_init_with_an_agent_preset(tmp_path, repo):
    import subprocess
    out = subprocess.run([sys.executable, "-m", "orchestrator", "init", str(repo), "--agent", "claude-code"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    text = (repo / "agents.yaml").read_text()
    assert "preset: claude-code" in text
    from orchestrator.formats import config
    assert config.load(repo / "agents.yaml").agents[0].command[0] == "claude"
