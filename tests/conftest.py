"""The shared fixtures: a real git repository in tmp_path, real agent scripts, a config that points only there.

Tiers: tests/unit runs no orchestrator process (real git and real queue directories, the tick driven
as tick(now) with a recording launcher) and is the fast tier, `pytest -m "not slow"`; everything
under tests/integration and tests/acceptance starts real runners, daemons or CLIs and is marked slow
here, by its folder."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from orchestrator.formats import config as configmod
from orchestrator.formats.task import Task
from orchestrator.git.repo import Repo
from orchestrator.store.backend import open_queue
from tests.support import DaemonProcess, wait_until

AGENT_SCRIPTS = {
    # Writes a file named after the task and commits it itself.
    "commit.py": """
        import os, pathlib, subprocess, sys
        name = os.environ["ORCH_TASK_ID"] + "-" + os.environ["ORCH_ATTEMPT"] + ".txt"
        pathlib.Path(name).write_text(pathlib.Path(os.environ["ORCH_PROMPT_FILE"]).read_text())
        subprocess.run(["git", "add", name], check=True)
        subprocess.run(["git", "commit", "-q", "-m", "agent work on " + os.environ["ORCH_TASK_ID"]], check=True)
        print("committed", name)
    """,
    # Leaves its change uncommitted: auto_commit must pick it up.
    "dirty.py": """
        import os, pathlib
        pathlib.Path(os.environ["ORCH_TASK_ID"] + ".txt").write_text("uncommitted work\\n")
        print("left a change")
    """,
    "fail.py": """
        import sys
        print("this agent always fails")
        sys.exit(3)
    """,
    "noop.py": """
        print("did nothing at all")
    """,
    # Records its argv, cwd and environment, then commits.
    "record.py": """
        import json, os, pathlib, subprocess, sys
        out = pathlib.Path(os.environ["RECORD_DIR"]) / (os.environ["ORCH_TASK_ID"] + ".json")
        out.write_text(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ)}))
        pathlib.Path("work.txt").write_text("x\\n")
    """,
    # Starts a child that ignores SIGTERM (and a grandchild), then hangs.
    "hang.py": """
        import os, signal, subprocess, sys, time
        code = "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); " \\
               "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); time.sleep(600)"
        subprocess.Popen([sys.executable, "-c", code])
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("hanging", flush=True)
        time.sleep(600)
    """,
    # Sleeps for $SLEEP seconds (default 2), then commits.
    "slow.py": """
        import os, pathlib, subprocess, time
        time.sleep(float(os.environ.get("SLEEP", "2")))
        pathlib.Path(os.environ["ORCH_TASK_ID"] + ".txt").write_text("slow work\\n")
    """,
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    (path / "README.md").write_text("# test repo\n")
    Repo.create(path)
    subprocess.run(["git", "-C", str(path), "config", "user.email", "test@example.com"], check=True)
    subprocess.run(["git", "-C", str(path), "config", "user.name", "Test"], check=True)
    return path


@pytest.fixture
def agents_dir(tmp_path: Path) -> Path:
    path = tmp_path / "agents"
    path.mkdir()
    for name, source in AGENT_SCRIPTS.items():
        (path / name).write_text(textwrap.dedent(source))
    return path


class Env:
    """One test's world: repository, agent scripts, config file, queue."""

    def __init__(self, root: Path, repo: Path, agents_dir: Path):
        self.root = root
        self.repo = repo
        self.agents_dir = agents_dir
        self.config_path = root / "agents.yaml"
        self.queue_url: str | None = None  # set: the queue is in this PostgreSQL database

    def agent(self, name: str, script: str = "commit.py", **extra) -> dict:
        entry = {"name": name, "command": [sys.executable, str(self.agents_dir / script), "{prompt_file}"]}
        entry.update(extra)
        return entry

    def write_config(self, agents: list[dict], **settings) -> configmod.Config:
        data = {"repo": str(self.repo), "base_branch": "main", "queue_dir": "queue", "state_dir": "state",
                "tick_seconds": 60, "retry_backoff_seconds": 0, "kill_grace_seconds": 0.5}
        if self.queue_url:
            data["queue_url"] = self.queue_url
        data.update(settings)
        data["agents"] = agents
        self.config_path.write_text(yaml.safe_dump(data, sort_keys=False))
        self.config = configmod.load(self.config_path)
        self.queue = open_queue(self.config)
        self.queue.ensure_dirs()
        return self.config

    def enqueue(self, task_id: str, title: str | None = None, **fields) -> None:
        self.queue.enqueue(Task(id=task_id, title=title or f"Task {task_id}", body=f"Do {task_id}.", **fields),
                           actor="test")

    def state_of(self, task_id: str) -> str | None:
        return self.queue.locate(task_id)

    def read(self, task_id: str) -> Task:
        return self.queue.read(task_id)[1]

    def events(self, task_id: str | None = None) -> list[dict]:
        if self.queue.kind != "file":
            return [r for r in self.queue.journal.read() if task_id is None or r.get("task") == task_id]
        path = self.config.state_dir / "events.jsonl"
        if not path.exists():
            return []
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return [r for r in rows if task_id is None or r.get("task") == task_id]

    def cli(self, *args: str, timeout: float = 60, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "orchestrator", "--config", str(self.config_path), *args],
                              capture_output=True, text=True, timeout=timeout, input=input, cwd=self.root)

    def wait_until(self, predicate, timeout: float = 30.0, what: str = "condition") -> None:
        wait_until(predicate, timeout=timeout, what=what)

    def wait_for_a_tick(self, timeout: float = 10.0, since: datetime | None = None) -> None:
        """Wait until a tick has started after this call (or after `since`, taken before what should
        cause one: a NOTIFY wakes the daemon within milliseconds): what it would do, it has done."""
        since = since or datetime.now(UTC)
        path = self.config.state_dir / "last_tick.json"

        def ticked() -> bool:
            try:
                return datetime.fromisoformat(json.loads(path.read_text())["at"]) > since
            except (OSError, ValueError, KeyError):
                return False
        self.wait_until(ticked, timeout=timeout, what="a tick after this moment")

    def drain(self, timeout: float = 60.0) -> None:
        from orchestrator.tick.drain import drain
        from orchestrator.tick.scheduler import Scheduler
        assert drain(Scheduler(self.config), timeout, poll=0.05) == 0, "drain did not finish"

    def git(self, *args: str) -> str:
        return subprocess.run(["git", "-C", str(self.repo), *args], capture_output=True, text=True,
                              check=True).stdout


@pytest.fixture
def env(tmp_path: Path, repo: Path, agents_dir: Path, monkeypatch) -> Env:
    monkeypatch.delenv("ORCHESTRATOR_CONFIG", raising=False)
    return Env(tmp_path, repo, agents_dir)


@pytest.fixture(params=["file", "postgresql"])
def backend_env(request, tmp_path: Path, repo: Path, agents_dir: Path, monkeypatch) -> Env:
    """An Env on each queue backend: a test module runs on both by defining `env` as this."""
    monkeypatch.delenv("ORCHESTRATOR_CONFIG", raising=False)
    world = Env(tmp_path, repo, agents_dir)
    if request.param == "postgresql":
        world.queue_url = request.getfixturevalue("pg_url")
    return world


@pytest.fixture
def fake_model():
    """Start our fake model server (tests/fakemodel/) on loopback: fake_model(script=[...], opts={...});
    every server started is stopped when the test ends, pass or fail."""
    from tests.fakemodel.server import FakeModelServer
    started: list[FakeModelServer] = []

    def start(script: list[str] | None = None, opts: dict | None = None, hang_seconds: float = 600) -> FakeModelServer:
        server = FakeModelServer(script=script, opts=opts, hang_seconds=hang_seconds).start()
        started.append(server)
        return server
    yield start
    for server in started:
        server.stop()


@pytest.fixture
def daemon(env):
    d = DaemonProcess(env)
    yield d
    d.stop()


@pytest.fixture(autouse=True)
def _no_inherited_config(monkeypatch):
    monkeypatch.delenv("ORCHESTRATOR_CONFIG", raising=False)


def pytest_collection_modifyitems(config, items):
    unit = Path(__file__).parent / "unit"
    for item in items:
        if unit not in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def pg_cluster():
    """One throwaway PostgreSQL server for the session (tests/pgcluster.py); skips where none can run."""
    from tests import pgcluster

    why = pgcluster.unavailable()
    if why:
        pytest.skip(why)
    cluster = pgcluster.Cluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster):
    """A fresh empty database of the session's server."""
    return pg_cluster.new_database()
