"""The daemon as users live with it: instant pickup, live config, signals, pause, ready worktrees, limits.

Every test runs a real daemon process with tick_seconds 60, so anything that happens within a
few seconds happened because of an event, not the interval.
"""

from __future__ import annotations

import json
import os
import signal
import site
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from orchestrator.formats.task import Task
from orchestrator.store.attempts import Runs
from tests.support import processes_with


@pytest.fixture
def env(backend_env):
    """Every test here runs on both queue backends: the directories and PostgreSQL (issue 18)."""
    return backend_env


def started_at(env, task_id):
    for event in env.events(task_id):
        if event["event"] == "started":
            return event["ts"]
    return None


def test_enqueued_and_dropped_tasks_start_within_a_second_or_two(env, daemon):
    env.write_config([env.agent("impl-1", max_concurrent=2)], max_running=2)
    daemon.start()
    env.wait_until(lambda: (env.config.state_dir / "last_tick.json").exists(), what="the daemon's first tick")
    t0 = time.monotonic()
    assert env.cli("enqueue", "Via the CLI", "--id", "cli").returncode == 0
    env.wait_until(lambda: started_at(env, "cli"), timeout=10, what="the CLI task to start")
    cli_latency = time.monotonic() - t0
    t0 = time.monotonic()
    if env.queue.kind == "file":  # a file dropped by hand: file events tell the daemon
        (env.config.queue_dir / "incoming" / "dropped.md").write_text("---\ntitle: Dropped by hand\n---\nDo it.\n")
    else:  # enqueued by another machine (no wake of ours): only LISTEN/NOTIFY tells the daemon
        env.wait_until(lambda: env.state_of("cli") == "provisional", what="the CLI task to finish")
        settled = datetime.fromisoformat(next(e["ts"] for e in env.events("cli") if e["event"] == "succeeded"))

        def ticked_since_settled() -> bool:
            at = json.loads((env.config.state_dir / "last_tick.json").read_text())["at"]
            return datetime.fromisoformat(at) > settled
        env.wait_until(ticked_since_settled, what="the tick the CLI task's end woke")  # none else due for a minute
        t0 = time.monotonic()
        env.queue.enqueue(Task(id="dropped", title="From another machine"), actor="elsewhere")
    env.wait_until(lambda: started_at(env, "dropped"), timeout=10, what="the dropped task to start")
    dropped_latency = time.monotonic() - t0
    assert cli_latency < 5 and dropped_latency < 5, (cli_latency, dropped_latency)


def test_a_finished_attempt_starts_the_next_task_at_once(env, daemon):
    env.write_config([env.agent("impl-1", "slow.py", env={"SLEEP": "1"})])
    env.enqueue("first")
    env.enqueue("second")
    daemon.start()
    env.wait_until(lambda: env.state_of("second") == "provisional", timeout=20, what="both tasks")
    events = env.events()
    done = next(e["ts"] for e in events if e["task"] == "first" and e["event"] == "succeeded")
    claimed = next(e["ts"] for e in events if e["task"] == "second" and e["event"] == "claimed")
    from orchestrator.base.clock import parse_iso
    assert (parse_iso(claimed) - parse_iso(done)).total_seconds() < 3


def test_hot_reload_adds_an_agent_and_an_invalid_file_keeps_the_last_good_one(env, daemon):
    env.write_config([env.agent("impl-1")])
    daemon.start()
    before = datetime.now(UTC)
    env.enqueue("docs-task", role="docs")
    env.wait_for_a_tick(since=before)
    assert env.state_of("docs-task") == "incoming"
    data = yaml.safe_load(env.config_path.read_text())
    data["agents"].append(env.agent("docs-1", role="docs"))
    env.config_path.write_text(yaml.safe_dump(data))
    env.wait_until(lambda: env.state_of("docs-task") == "provisional", timeout=15, what="the new agent to work")
    # Now break the file: the daemon says so and keeps working with what it had.
    env.config_path.write_text(env.config_path.read_text() + "max_runing: 3\n")
    env.wait_until(lambda: not json.loads(env.cli("status", "--json").stdout)["config_ok"], timeout=10,
                   what="the invalid config to be reported")
    status = env.cli("status").stdout
    assert "CONFIG INVALID" in status and "max_runing" in status and "did you mean 'max_running'" in status
    env.enqueue("after-breakage", role="docs")
    env.wait_until(lambda: env.state_of("after-breakage") == "provisional", timeout=15, what="work to go on")
    assert env.cli("--once").returncode == 2  # a single tick refuses the invalid file outright
    assert env.cli("validate").returncode == 2


def test_sighup_reloads(env, daemon):
    env.write_config([env.agent("impl-1")])
    daemon.start()
    daemon.proc.send_signal(signal.SIGHUP)
    env.wait_until(lambda: any(e["event"] == "config_reloaded" for e in env.events()), timeout=10, what="reload")


def test_sigterm_leaves_agents_running_and_a_restart_adopts_them(env, daemon):
    env.write_config([env.agent("impl-1", "slow.py", env={"SLEEP": "4"})])
    env.enqueue("t1")
    daemon.start()
    env.wait_until(lambda: started_at(env, "t1"), what="the agent to start")
    started = time.monotonic()
    assert daemon.stop() == 0
    assert time.monotonic() - started < 5  # prompt
    runner_pid = Runs(env.config.state_dir).latest("t1").owner()["pid"]
    import psutil
    assert psutil.pid_exists(runner_pid) and env.state_of("t1") == "claimed"
    daemon.start()
    env.wait_until(lambda: env.state_of("t1") == "provisional", timeout=20, what="the adopted attempt to finish")
    outcomes = [a.result().outcome for a in Runs(env.config.state_dir).attempts("t1")]
    assert outcomes == ["success"]  # the same attempt, never taken for dead


def test_a_second_daemon_is_refused_and_a_stale_pid_file_is_no_obstacle(env, daemon):
    env.write_config([env.agent("impl-1")])
    pid_file = env.config.state_dir / "daemon.pid"
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text("999999\n")  # left behind by a daemon killed with -9
    daemon.start()
    second = env.cli("--daemon", timeout=20)
    assert second.returncode == 3
    assert "a daemon is already running" in second.stderr and f"pid {daemon.proc.pid}" in second.stderr


def test_pause_and_resume(env, daemon):
    env.write_config([env.agent("impl-1"), env.agent("docs-1", role="docs")])
    daemon.start()
    assert env.cli("pause").returncode == 0
    before = datetime.now(UTC)
    env.enqueue("t1")
    env.wait_for_a_tick(since=before)
    assert env.state_of("t1") == "incoming" and "ALL PAUSED" in env.cli("status").stdout
    assert env.cli("resume").returncode == 0
    env.wait_until(lambda: env.state_of("t1") == "provisional", timeout=10, what="work after resume")
    assert env.cli("pause", "docs-1").returncode == 0
    before = datetime.now(UTC)
    env.enqueue("d1", role="docs")
    env.wait_for_a_tick(since=before)
    assert env.state_of("d1") == "incoming" and "docs-1 paused: paused by person" in env.cli("status").stdout
    env.cli("resume", "docs-1")
    env.wait_until(lambda: env.state_of("d1") == "provisional", timeout=10, what="the agent after resume")
    assert env.cli("pause", "ghost").returncode == 1


def test_stop_with_kill_agents_requeues_without_spending_an_attempt(env, daemon):
    env.write_config([env.agent("impl-1", "hang.py")])
    env.enqueue("t1")
    daemon.start()
    env.wait_until(lambda: len(processes_with("time.sleep(600)")) >= 2, what="the hanging agent")
    out = env.cli("stop", "--kill-agents")
    assert out.returncode == 0 and "stopped the daemon" in out.stdout and "t1" in out.stdout
    assert daemon.proc.wait(10) == 0
    assert env.state_of("t1") == "incoming" and env.read("t1").attempts == 0
    env.wait_until(lambda: processes_with("time.sleep(600)") == [], timeout=5, what="the agent's processes to end")
    assert env.cli("stop").stdout.strip() == "no daemon was running"


def test_copy_files_setup_and_teardown(env, agents_dir, tmp_path):
    (env.repo / ".gitignore").write_text(".env\n")
    env.git("add", ".gitignore")
    env.git("commit", "-qm", "ignore .env")
    (env.repo / ".env").write_text("SECRET=local\n")
    (agents_dir / "check.py").write_text(
        "import pathlib\nassert pathlib.Path('.env').read_text() == 'SECRET=local\\n'\n"
        "assert pathlib.Path('prepared.txt').exists()\npathlib.Path('work.txt').write_text('ok')\n")
    marker = tmp_path / "teardown-ran"
    env.write_config([env.agent("impl-1", "check.py")], copy_files=[".env"],
                     setup=[sys.executable, "-c", "open('prepared.txt', 'w').write('x')"],
                     teardown=[sys.executable, "-c", f"open({str(marker)!r}, 'w').write('x')"])
    env.enqueue("t1")
    env.drain()
    assert env.state_of("t1") == "provisional", env.read("t1").last_error
    assert marker.exists()
    tree = env.git("ls-tree", "-r", "--name-only", "agent/t1").split()
    assert "work.txt" in tree


def test_setup_failure_fails_the_attempt_with_its_output_not_the_agents_health(env):
    env.write_config([env.agent("impl-1", setup=[sys.executable, "-c", "print('npm ERR! missing lockfile'); "
                                                                      "raise SystemExit(1)"])], max_attempts=1)
    env.enqueue("t1")
    env.drain()
    assert env.state_of("t1") == "failed"
    error = env.read("t1").last_error
    assert "setup_failed" in error and "npm ERR! missing lockfile" in error and "exit code 1" in error
    state = json.loads((env.config.state_dir / "agents.json").read_text()) if \
        (env.config.state_dir / "agents.json").exists() else {}
    assert state.get("impl-1", {}).get("start_failures", 0) == 0


def test_port_blocks_are_disjoint(env, agents_dir, tmp_path):
    (agents_dir / "ports.py").write_text(
        "import os, pathlib, time\n"
        "pathlib.Path(os.environ['OUT'], os.environ['ORCH_TASK_ID']).write_text(os.environ['ORCH_PORT_BASE'])\n"
        "time.sleep(1.5)\npathlib.Path('x.txt').write_text('x')\n")
    out = tmp_path / "ports"
    out.mkdir()
    env.write_config([env.agent("impl-1", "ports.py", max_concurrent=4, env={"OUT": str(out)})], max_running=4,
                     port_base=30000, port_block_size=5)
    for n in range(4):
        env.enqueue(f"t{n}")
    env.drain()
    ports = sorted(int(p.read_text()) for p in out.iterdir())
    assert ports == [30000, 30005, 30010, 30015]


def test_the_daemons_virtualenv_does_not_leak_into_agents(env, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    # The daemon's own virtualenv must see what this one has (when the suite itself runs in a venv,
    # --system-site-packages would show the base interpreter's packages instead): a .pth file does.
    inner = subprocess.run([str(venv / "bin" / "python"), "-c", "import site; print(site.getsitepackages()[0])"],
                           capture_output=True, text=True, check=True).stdout.strip()
    Path(inner, "outer.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    record_dir = tmp_path / "records"
    record_dir.mkdir()
    # An agent CLI installed in the daemon's virtualenv, beside the orchestrator (pip install aider-chat).
    venv_cli = venv / "bin" / "venv-agent-cli"
    venv_cli.write_text(f"#!{sys.executable}\n" + (env.agents_dir / "record.py").read_text())
    venv_cli.chmod(0o755)
    env.write_config([env.agent("impl-1", "record.py", env={"RECORD_DIR": str(record_dir)},
                                env_passthrough=["MY_TOKEN"]),
                      {"name": "in-venv", "command": ["venv-agent-cli"], "env": {"RECORD_DIR": str(record_dir)}}])
    env.enqueue("t1", agent="impl-1")
    env.enqueue("t2", agent="in-venv")
    import orchestrator
    root = os.path.dirname(os.path.dirname(orchestrator.__file__))
    network = {"HTTPS_PROXY": "http://proxy.corp:3128", "NO_PROXY": "localhost,.corp", "SSL_CERT_FILE": "/etc/corp-ca.pem",
               "REQUESTS_CA_BUNDLE": "/etc/corp-ca.pem", "NODE_EXTRA_CA_CERTS": "/etc/corp-ca.pem", "AWS_PROFILE": "bedrock"}
    daemon_env = {**os.environ, "VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
                  "PYTHONPATH": root, "MY_TOKEN": "kept", "OTHER_SECRET": "dropped", **network}
    validated = subprocess.run([str(venv / "bin" / "python"), "-m", "orchestrator", "--config", str(env.config_path),
                                "validate"], env=daemon_env, timeout=90, capture_output=True, text=True)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    subprocess.run([str(venv / "bin" / "python"), "-m", "orchestrator", "--config", str(env.config_path),
                    "--drain", "--timeout", "60"], env=daemon_env, check=True, timeout=90, capture_output=True)
    seen = json.loads((record_dir / "t1.json").read_text())["env"]
    assert "VIRTUAL_ENV" not in seen and "PYTHONPATH" not in seen and "OTHER_SECRET" not in seen
    assert str(venv / "bin") not in seen["PATH"].split(":")
    assert seen["MY_TOKEN"] == "kept" and seen["HOME"] == os.environ["HOME"]
    # Corporate proxies, CAs and the cloud profile reach every agent without being listed.
    assert {k: seen.get(k) for k in network} == network
    # The CLI in the daemon's virtualenv was found and ran, with that virtualenv still off its PATH.
    in_venv = json.loads((record_dir / "t2.json").read_text())
    assert in_venv["argv"][0] == str(venv_cli) and str(venv / "bin") not in in_venv["env"]["PATH"].split(":")
    assert env.state_of("t2") == "provisional"


def test_usage_limit_rests_the_agent_and_spends_no_attempt(env, agents_dir):
    (agents_dir / "limited.py").write_text(
        "import sys\nprint('Claude usage limit reached. Try again in 30 minutes.')\nsys.exit(75)\n")
    env.write_config([env.agent("impl-1", "limited.py")], max_attempts=1)
    env.enqueue("t1")
    from orchestrator.tick.scheduler import Scheduler
    scheduler = Scheduler(env.config)
    scheduler.tick()
    env.wait_until(lambda: env.state_of("t1") == "incoming" and scheduler.tick() is not None and
                   env.queue.count("claimed") == 0, what="the usage limit")
    assert env.read("t1").attempts == 0
    agent = json.loads(env.cli("status", "--json").stdout)["agents"][0]
    assert agent["paused"] and "cooling down until" in agent["paused_reason"]
    from orchestrator.base.clock import parse_iso, utcnow
    until = parse_iso(json.loads((env.config.state_dir / "agents.json").read_text())["impl-1"]["paused_until"])
    assert 25 * 60 < (until - utcnow()).total_seconds() <= 30 * 60
    assert scheduler.tick().started == []


def test_memory_limit_kills_the_tree_with_the_reason(env, agents_dir):
    (agents_dir / "hog.py").write_text("import time\nx = bytearray(300 * 1024 * 1024)\ntime.sleep(30)\n")
    env.write_config([env.agent("impl-1", "hog.py", memory_limit_mb=100)], max_attempts=1)
    env.enqueue("t1")
    env.drain(timeout=60)
    assert env.state_of("t1") == "failed"
    reason = Runs(env.config.state_dir).latest("t1").result().reason
    assert "memory limit" in reason and "memory_limit_mb 100" in reason
