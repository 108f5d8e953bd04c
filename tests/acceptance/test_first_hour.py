"""A user's first hour, driven through the CLI as they would: what the board and `show` say after
real runs, config mistakes, quarantine, a failed attempt's leftovers, worktrees a project can run in."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys

from orchestrator.base.clock import parse_iso

LONG_ID = "a-task-id-far-longer-than-twenty-eight-characters"


def run_in_a_terminal(env, *args: str, timeout: float = 30) -> str:
    """Run the CLI with its stdout on a pseudo-terminal (the board only draws on one)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "--config", str(env.config_path), *args],
                            stdin=slave, stdout=slave, stderr=slave, cwd=env.root,
                            env={**os.environ, "COLUMNS": "220", "LINES": "60", "TERM": "xterm"})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=timeout) == 0
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode(errors="replace"))


def test_runs_and_counted_attempts_are_told_apart_and_ids_never_run_into_the_next_column(env, agents_dir):
    (agents_dir / "breaks.py").write_text(
        "import sys\nprint('working on it')\nprint('Traceback (most recent call last):')\n"
        "print('ValueError: [test-agent] the fixture is missing', flush=True)\nsys.exit(1)\n")
    env.write_config([env.agent("impl-1"), env.agent("breaker", "breaks.py", role="experiment")], max_attempts=2)
    env.cli("enqueue", "Make it so", "--id", "t1")
    env.cli("enqueue", "[test-agent] try the risky thing", "--id", LONG_ID, "--role", "experiment")
    env.drain()

    listed = env.cli("list").stdout.splitlines()
    assert re.split(r"\s{2,}", listed[0]) == ["ID", "STATE", "PRI", "ROLE", "RUNS", "TITLE"]
    row = {line.split()[0]: line.split() for line in listed[1:]}
    assert row["t1"][1:5] == ["provisional", "P2", "implement", "1"]  # it ran once (and succeeded)
    assert row[LONG_ID][1:5] == ["failed", "P2", "experiment", "2"]
    shown = env.cli("show", "t1").stdout
    assert "attempts:  1 run, 0 counted toward the limit" in shown
    rows = {r["id"]: r for r in json.loads(env.cli("list", "--json").stdout)}
    assert (rows["t1"]["attempts_run"], rows["t1"]["attempts"]) == (1, 0)
    assert (rows[LONG_ID]["attempts_run"], rows[LONG_ID]["attempts"]) == (2, 2)

    # The latest attempt's reason with the agent's own error line; earlier attempts are in show's runs.
    failed = json.loads(env.cli("show", LONG_ID, "--json").stdout)
    assert failed["last_error"].startswith("attempt 2 (breaker): failed: exit code 1")
    assert "ValueError: [test-agent] the fixture is missing" in failed["last_error"]
    assert "attempt 1" not in failed["last_error"]
    assert [r["attempt"] for r in failed["runs"]] == [1, 2]
    assert "#1 breaker claimed " in env.cli("show", LONG_ID).stdout

    # People read relative times; --json keeps one ISO form.
    status = json.loads(env.cli("status", "--json").stdout)
    assert status["last_tick"].endswith("Z") and parse_iso(status["last_tick"]) is not None
    assert re.search(r"last tick: (just now|\d+s ago) \(\d\d:\d\d:\d\dZ\)", env.cli("status").stdout)
    events = json.loads(env.cli("history", "t1", "--json").stdout)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", e["ts"]) for e in events)
    assert re.search(r"^(just now|\d+s ago) \(\d\d:\d\d:\d\dZ\)\s+enqueued", env.cli("history", "t1").stdout, re.M)

    # The board on a terminal: markup in a title or an agent's line is shown, not eaten.
    board = run_in_a_terminal(env, "status")
    assert "[test-agent] try the risky thing" in board
    assert "[test-agent] the fixture is missing" in board


def test_the_daemon_console_shows_outcomes_not_only_dispatches(env, daemon):
    env.write_config([env.agent("impl-1"), env.agent("failing", "fail.py", role="experiment")], max_attempts=1)
    daemon.start()
    env.cli("enqueue", "Make it so", "--id", "t1")
    env.cli("enqueue", "Doomed", "--id", "t2", "--role", "experiment")
    env.wait_until(lambda: env.state_of("t1") == "provisional" and env.state_of("t2") == "failed", what="both settled")
    env.wait_until(lambda: "task_failed" in daemon.console.read_text() and "task_succeeded" in daemon.console.read_text(),
                   timeout=15, what="the outcomes on the daemon's console")
    console = daemon.console.read_text()
    assert re.search(r"task_succeeded .*task=t1", console), console
    assert re.search(r"task_failed .*task=t2", console), console
    assert "executed successfully" not in console  # no scheduler chatter per tick


def test_every_config_mistake_is_reported_at_once_and_enqueue_still_works(env):
    env.write_config([env.agent("impl-1")])
    (env.config.queue_dir / "incoming" / "bad.md").write_text("---\ntitle: x\npriority: P9\nbogus: 1\n---\n")
    text = env.config_path.read_text()
    text = text.replace("tick_seconds: 60", "tick_seconds: -1\nmax_runing: 2").replace("name: impl-1", "nam: impl-1")
    env.config_path.write_text(text)
    lines = text.splitlines()
    line_of = {key: lines.index(next(line for line in lines if line.lstrip(" -").startswith(key))) + 1
               for key in ("tick_seconds", "max_runing", "nam:")}

    out = env.cli("validate")
    assert out.returncode == 2
    path = env.config_path
    assert f"{path}:{line_of['tick_seconds']}: key 'tick_seconds': -1.0 is below the minimum" in out.stderr
    assert f"{path}:{line_of['max_runing']}: key 'max_runing': unknown key" in out.stderr
    assert "did you mean 'max_running'?" in out.stderr
    assert f"{path}:{line_of['nam:']}: key 'agents[0].nam': unknown key 'nam' in agent #1 (did you mean 'name'?)" in out.stderr
    assert "is missing the required key 'name'" in out.stderr
    bad = env.config.queue_dir / "incoming" / "bad.md"
    assert f"{bad}:3: key 'priority': 'P9' is not one of P0, P1, P2, P3" in out.stdout  # the task files too
    assert f"{bad}:4: key 'bogus': unknown key 'bogus'" in out.stdout

    # enqueue needs only the queue: it works, and says what the invalid file means.
    queued = env.cli("enqueue", "Still wanted", "--id", "t1")
    assert queued.returncode == 0 and queued.stdout.strip() == "t1" and env.state_of("t1") == "incoming"
    assert "t1 is queued, but" in queued.stderr and "no agent takes it until the file is fixed" in queued.stderr
    board = env.cli("status").stdout
    assert "CONFIG INVALID: " in board and "nothing runs until it is fixed" in board
    assert "running on the last good one" not in board  # no daemon runs
    assert "no agent has role" not in board  # the agents are unknown, not missing


def edit(path, text: str) -> None:
    """A person's edit, made a moment after the quarantine explained the file (as by hand it always is)."""
    path.write_text(text)
    later = path.stat().st_mtime_ns + 1_000_000_000
    os.utime(path, ns=(later, later))


def test_a_quarantined_file_fixed_where_it_is_comes_back_and_its_reason_stays_true(env):
    env.write_config([env.agent("impl-1")], max_running=1)
    incoming, invalid = env.config.queue_dir / "incoming", env.config.queue_dir / "invalid"
    (incoming / "fixme.md").write_text("---\ntitle: Fix me\npriority: P9\n---\n")
    assert env.cli("--once").returncode == 0
    why = invalid / "fixme.md.why"
    assert (invalid / "fixme.md").exists() and why.exists()
    out = env.cli("validate").stdout
    assert f"{invalid / 'fixme.md'}:3: key 'priority': 'P9'" in out  # the reason names where the file is now
    assert f"{incoming / 'fixme.md'}:" not in out

    edit(invalid / "fixme.md", "---\ntitle: Fix me\npriority: P1\nbogus: 1\n---\n")  # fixed one thing, broke another
    assert env.cli("--once").returncode == 0
    assert (invalid / "fixme.md").exists()
    out = env.cli("validate").stdout
    assert "key 'bogus': unknown key" in out and "'P9'" not in out and "'P9'" not in why.read_text()

    edit(invalid / "fixme.md", "---\ntitle: Fix me\npriority: P1\n---\n")
    assert env.cli("--once").returncode == 0
    assert env.state_of("fixme") in ("claimed", "provisional") and not why.exists()
    assert not list(invalid.iterdir())
    assert [e["to"] for e in env.events("fixme") if e["event"] == "readmitted"] == ["incoming"]

    # retry ID takes a fixed file back at once; a file still wrong stays, with the reason.
    (incoming / "later.md").write_text("---\ntitle: Later\ndepends_on: nope nope\n---\n")
    env.cli("--once")
    assert (invalid / "later.md").exists()
    refused = env.cli("retry", "later")
    assert refused.returncode != 0 and "later.md" in refused.stderr and (invalid / "later.md").exists()
    (invalid / "later.md").write_text("---\ntitle: Later\ndepends_on: [fixme]\n---\n")
    assert env.cli("retry", "later").returncode == 0
    assert env.state_of("later") == "blocked" and not (invalid / "later.md.why").exists()

    # Fixed and moved back by hand: the sidecar goes with the next tick.
    (incoming / "third.md").write_text("---\ntitle: x\npriority: P7\n---\n")
    env.cli("--once")
    (invalid / "third.md").write_text("---\ntitle: x\npriority: P3\n---\n")
    os.rename(invalid / "third.md", incoming / "third.md")
    env.cli("--once")
    assert not (invalid / "third.md.why").exists() and env.state_of("third") is not None


def test_a_failed_attempts_uncommitted_edits_are_set_aside_not_handed_on(env, agents_dir):
    # Commits one good change, then leaves a breaking line uncommitted (and a new file) and fails.
    (agents_dir / "half.py").write_text(
        "import os, pathlib, subprocess, sys\n"
        "n = os.environ['ORCH_ATTEMPT']\n"
        "pathlib.Path(f'good-{n}.txt').write_text('good\\n')\n"
        "subprocess.run(['git', 'add', f'good-{n}.txt'], check=True)\n"
        "subprocess.run(['git', 'commit', '-qm', f'good work {n}'], check=True)\n"
        "with open('README.md', 'a') as fh:\n    fh.write('THE BREAKING LINE\\n')\n"
        "pathlib.Path('scratch.bin').write_bytes(bytes(range(256)))\n"
        "print('Error: tests fail'); sys.exit(1)\n")
    env.write_config([env.agent("impl-1", "half.py")], max_attempts=2)
    env.cli("enqueue", "Half done", "--id", "t1")
    env.drain()
    assert env.state_of("t1") == "failed"

    worktree = env.config.state_dir / "worktrees" / "t1"
    assert worktree.is_dir(), "the last attempt's uncommitted work is kept for a person"
    assert (worktree / "README.md").read_text().count("THE BREAKING LINE") == 1  # not two copies
    assert (worktree / "good-1.txt").exists() and (worktree / "good-2.txt").exists()  # committed work goes on
    patch = env.config.state_dir / "runs" / "t1" / "2" / "leftover.patch"
    assert "THE BREAKING LINE" in patch.read_text(errors="replace") and "scratch.bin" in patch.read_text(errors="replace")
    prompt = (env.config.state_dir / "runs" / "t1" / "2" / "prompt.md").read_text()
    assert "## Left over from an earlier attempt" in prompt and str(patch) in prompt
    assert not (env.config.state_dir / "runs" / "t1" / "1" / "leftover.patch").exists()
    shown = json.loads(env.cli("show", "t1", "--json").stdout)
    assert [r["leftover_patch"] for r in shown["runs"]] == [None, str(patch)]

    # The patch brings the set-aside work back, byte for byte.
    subprocess.run(["git", "stash", "-u", "-q"], cwd=worktree, check=True)
    subprocess.run(["git", "apply", str(patch)], cwd=worktree, check=True)
    assert (worktree / "README.md").read_text().count("THE BREAKING LINE") == 1
    assert (worktree / "scratch.bin").read_bytes() == bytes(range(256))


def git(cwd, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def test_a_python_project_gets_a_worktree_environment_that_runs_the_worktrees_code(tmp_path):
    repo = tmp_path / "mylib-repo"
    (repo / "mylib").mkdir(parents=True)
    (repo / "pyproject.toml").write_text('[build-system]\nrequires = ["setuptools>=61"]\n'
                                         'build-backend = "setuptools.build_meta"\n'
                                         '[project]\nname = "mylib"\nversion = "0.1"\n')
    (repo / "mylib" / "__init__.py").write_text('WHERE = "main checkout"\n')
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "mylib")
    cli = lambda *args: subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=repo,  # noqa: E731
                                       capture_output=True, text=True, timeout=300)
    out = cli("init")
    assert out.returncode == 0, out.stderr
    assert "pyproject.toml: a Python project; each worktree is set up with: sh -c 'python3 -m venv .venv" in out.stdout
    config = (repo / "agents.yaml").read_text()
    assert 'setup: ["sh", "-c", "python3 -m venv .venv && .venv/bin/pip install -q -e ."]' in config

    # The agent runs `python` from its PATH: it must be the worktree's, importing the worktree's code.
    probe = "python -c 'import mylib, sys; print(mylib.__file__); print(sys.prefix)' > where.txt"
    placeholder = next(line for line in config.splitlines() if "replace this command" in line)
    (repo / "agents.yaml").write_text(config.replace(placeholder, f"    command: [sh, -c, \"{probe}\"]"))
    assert cli("validate").returncode == 0
    assert cli("enqueue", "Where am I", "--id", "t1").returncode == 0
    drained = cli("--drain", "--timeout", "240")
    assert drained.returncode == 0, drained.stdout + drained.stderr
    where = git(repo, "show", "agent/t1:where.txt").splitlines()
    worktree = repo / ".git" / "orchestrator" / "state" / "worktrees" / "t1"
    assert where == [str(worktree / "mylib" / "__init__.py"), str(worktree / ".venv")]
    assert ".venv" not in git(repo, "show", "--stat", "--format=", "agent/t1")  # the environment is not the work

    # Copying the main checkout's virtualenv in instead is warned about, with the fix.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(repo / ".venv")], check=True)
    text = (repo / "agents.yaml").read_text()
    (repo / "agents.yaml").write_text(text.replace("    max_concurrent: 1", "    copy_files: [.venv]\n    max_concurrent: 1", 1))
    warned = cli("validate")
    assert warned.returncode == 0 and "warning:" in warned.stdout
    assert "copy_files: .venv is a virtualenv" in warned.stdout and "setup" in warned.stdout
