"""Shared set-up for benchmarks: a scratch repository and a config, built through the package itself."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator.formats import config as configmod  # noqa: E402
from orchestrator.git.repo import Repo  # noqa: E402

COMMIT_AGENT = textwrap.dedent("""
    import os, pathlib, subprocess
    name = os.environ["ORCH_TASK_ID"] + ".txt"
    pathlib.Path(name).write_text("work\\n")
    subprocess.run(["git", "add", name], check=True)
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-q", "-m",
                    "work on " + os.environ["ORCH_TASK_ID"]], check=True)
""")


def make_repo(path: Path, files: int = 1) -> Path:
    path.mkdir(parents=True)
    for n in range(files):
        sub = path / f"d{n // 1000:03d}"
        sub.mkdir(exist_ok=True)
        (sub / f"f{n}.txt").write_text(f"file {n}\n")
    Repo.create(path)
    return path


def make_config(root: Path, repo: Path, agent_script: str = COMMIT_AGENT, **settings) -> configmod.Config:
    agent = root / "agent.py"
    agent.write_text(agent_script)
    agents = settings.pop("agents", None) or [{"name": "bench", "command": [sys.executable, str(agent)],
                                              "max_concurrent": settings.pop("max_concurrent", 4)}]
    data = {"repo": str(repo), "queue_dir": "queue", "state_dir": "state", "tick_seconds": 60, "review": "human",
            "max_running": 4, "retry_backoff_seconds": 1}
    data.update(settings)
    data["agents"] = agents
    (root / "agents.yaml").write_text(yaml.safe_dump(data))
    return configmod.load(root / "agents.yaml")


def cores() -> str:
    return f"{os.cpu_count()} cores"


def git_version() -> str:
    return subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
