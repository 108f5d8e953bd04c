"""Stalls: an agent that prints nothing and changes nothing for stall_seconds is stopped; the
first time the task is retried without counting the attempt, the second time it waits for a person.
A slow agent that talks, or works silently on files, is never stopped for it."""

from __future__ import annotations

import textwrap

from orchestrator.tick.scheduler import Scheduler
from tests.support import RecordingNotifier, processes_with

QUIET = "import time\ntime.sleep(600)  # stall-me\n"
TALKING = textwrap.dedent("""
    import os, pathlib, time
    for i in range(8):
        print("thinking", i, flush=True)
        time.sleep(0.5)
    pathlib.Path(os.environ["ORCH_TASK_ID"] + ".txt").write_text("done\\n")
""")
SILENT_EDITOR = textwrap.dedent("""
    import os, pathlib, time
    for i in range(8):
        pathlib.Path("draft.txt").write_text(f"draft {i}\\n")
        time.sleep(0.5)
    pathlib.Path(os.environ["ORCH_TASK_ID"] + ".txt").write_text("done\\n")
""")


def agent(env, name: str, source: str, **extra) -> dict:
    path = env.agents_dir / name
    path.write_text(source)
    return {"name": "impl-1", "command": [env.agent("x")["command"][0], str(path)], **extra}


def test_a_silent_agent_is_stopped_retried_uncounted_then_left_for_a_person(env, tmp_path):
    notifier = RecordingNotifier(tmp_path / "told")
    env.write_config([agent(env, "quiet.py", QUIET, stall_seconds=2)], max_attempts=3, notify=[notifier.entry])
    scheduler = Scheduler(env.config)
    scheduler.tick()  # the notifications' cursor starts here
    env.enqueue("t1")
    env.drain(timeout=90)
    task = env.read("t1")
    assert env.state_of("t1") == "blocked" and task.attempts == 0, (env.state_of("t1"), task)
    assert "stalled twice in a row" in task.blocked_reason and "stall_seconds" in task.blocked_reason
    outcomes = [e.get("outcome") for e in env.events("t1") if e.get("outcome")]
    assert outcomes[:2] == ["stalled", "blocked"], outcomes
    status = env.cli("status").stdout
    assert "needs you" in status and "stalled twice" in status
    assert processes_with("stall-me") == []
    scheduler.tick()  # delivers: a repeated stall is news for a person, the first one is not
    env.wait_until(lambda: notifier.told("blocked", "t1") is not None, what="the notification")
    assert "stalled twice in a row" in notifier.told("blocked", "t1")["reason"]
    assert [p.name for p in notifier.dir.iterdir()] == ["blocked-t1.json"]


def test_a_slow_agent_that_talks_is_not_stalled(env):
    env.write_config([agent(env, "talking.py", TALKING, stall_seconds=2)])
    env.enqueue("t1")
    env.drain(timeout=60)
    assert env.state_of("t1") == "provisional", env.read("t1").last_error


def test_an_agent_that_edits_files_without_printing_is_not_stalled(env):
    env.write_config([agent(env, "silent_editor.py", SILENT_EDITOR, stall_seconds=2)])
    env.enqueue("t1")
    env.drain(timeout=60)
    assert env.state_of("t1") == "provisional", env.read("t1").last_error
