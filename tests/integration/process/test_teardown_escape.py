"""Every process an attempt started is gone when the attempt ends, also those that cleared their
environment (no marker), left the process group and session, or moved out of the worktree.

Issue "Nothing lost to the people and the agents around it", item 7.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from orchestrator.process import tree
from orchestrator.store.attempts import Runs

# The agent starts its escapees, waits until each has written its PID, commits and exits 0; with
# HOLD set it then waits for that file first (so its runner can be killed while it runs).
ESCAPE = textwrap.dedent("""
    import os, pathlib, shutil, subprocess, sys, time
    pids = pathlib.Path(os.environ["PID_DIR"])
    # 1. No marker, its own session, still in the worktree: what item 7 of the issue names.
    subprocess.run(["sh", "-c", f"setsid env -i sh -c 'echo $$ > {pids}/setsid.pid; exec sleep 600' &"],
                   check=True)
    wanted = ["setsid.pid"]
    if os.environ.get("DOUBLE_FORK"):
        # 2. A classic daemon: double fork, new session, out of the worktree, an empty environment.
        sleep = shutil.which("sleep")
        first = os.fork()
        if first == 0:
            os.setsid()
            if os.fork() == 0:
                os.chdir("/")
                (pids / "daemon.pid").write_text(str(os.getpid()))
                os.execve(sleep, ["sleep", "600"], {})
            os._exit(0)
        os.waitpid(first, 0)
        wanted.append("daemon.pid")
    deadline = time.monotonic() + 20
    while not all((pids / n).exists() and (pids / n).read_text().strip() for n in wanted):
        assert time.monotonic() < deadline, "the escapees did not start"
        time.sleep(0.02)
    hold = os.environ.get("HOLD")
    if hold:
        while not pathlib.Path(hold).exists():
            time.sleep(0.05)
    pathlib.Path(os.environ["ORCH_TASK_ID"] + ".txt").write_text("work\\n")
    subprocess.run(["git", "add", "-A"], check=True)
    subprocess.run(["git", "commit", "-q", "-m", "work"], check=True)
""")


def escapees(pid_dir: Path) -> dict[str, psutil.Process]:
    """The escapees still alive (a zombie is dead), by the file each wrote its PID to."""
    alive = {}
    for pid_file in sorted(pid_dir.glob("*.pid")):
        try:
            process = psutil.Process(int(pid_file.read_text()))
            if process.status() != psutil.STATUS_ZOMBIE and "sleep" in " ".join(process.cmdline()):
                alive[pid_file.stem] = process
        except (psutil.NoSuchProcess, ValueError):
            continue
    return alive


@pytest.fixture
def pid_dir(env, tmp_path):
    path = tmp_path / "pids"
    path.mkdir()
    (env.agents_dir / "escape.py").write_text(ESCAPE)
    yield path
    for process in escapees(path).values():  # on a failure, leave no sleeper behind
        process.kill()


def escaping_agent(env, pid_dir: Path, **env_vars: str) -> dict:
    return {"name": "impl-1", "command": [sys.executable, str(env.agents_dir / "escape.py")],
            "env": {"PID_DIR": str(pid_dir), **env_vars}}


def test_processes_that_escape_group_session_marker_and_worktree_end_with_the_attempt(env, pid_dir):
    env.write_config([escaping_agent(env, pid_dir, DOUBLE_FORK="1")], max_attempts=1)
    env.enqueue("t1")
    env.drain(timeout=60)
    assert env.state_of("t1") == "provisional", env.read("t1").last_error
    assert sorted(p.name for p in pid_dir.iterdir()) == ["daemon.pid", "setsid.pid"]
    # before: both survived (found only by process group or by the marker in the environment)
    assert escapees(pid_dir) == {}


def once(env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator", "--config", str(env.config_path), "--once"],
                          capture_output=True, text=True, timeout=60)


def test_after_the_runner_is_killed_the_reconciler_ends_what_escaped_inside_the_worktree(env, pid_dir, tmp_path):
    env.write_config([escaping_agent(env, pid_dir, HOLD=str(tmp_path / "never"))], max_attempts=1)
    env.enqueue("t1")
    assert once(env).returncode == 0
    env.wait_until(lambda: "setsid" in escapees(pid_dir), timeout=30, what="the escapee")
    attempt = Runs(env.config.state_dir).latest("t1")
    runner = tree.Identity.from_record(attempt.owner())
    assert runner is not None and tree.is_alive(runner)
    os.kill(runner.pid, signal.SIGKILL)  # mid-attempt: the agent holds, its escapee sleeps in the worktree
    env.wait_until(lambda: not tree.is_alive(runner), timeout=10, what="the runner's death")
    escapee = escapees(pid_dir)["setsid"]
    assert Path(escapee.cwd()).is_relative_to(Path(env.config.state_dir).resolve() / "worktrees")
    assert once(env).returncode == 0
    assert attempt.result() is not None and attempt.result().outcome == "runner_died"
    # before: the reconciler killed the agent (its group) but not what left the group and cleared its marker
    assert escapees(pid_dir) == {}
    assert env.state_of("t1") == "failed"
