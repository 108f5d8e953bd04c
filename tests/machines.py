"""Machines for the multi-machine test and benchmark (issue 18): a daemon with its own clone and
state directory on a shared PostgreSQL queue and bare remote, that can be killed whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import yaml

# The agent holds an flock on its task while it works: a second live agent of the same task records a clash.
AGENT = textwrap.dedent("""
    import fcntl, os, pathlib, random, subprocess, sys, time
    shared = pathlib.Path(os.environ["SHARED"])
    task = os.environ["ORCH_TASK_ID"]
    lock = open(shared / "locks" / f"{task}.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        with open(shared / "clashes.log", "a") as log:
            log.write(f"{task} {os.environ['MACHINE']}\\n")
        sys.exit(1)
    time.sleep(random.uniform(*map(float, os.environ["SLEEP"].split(","))))
    pathlib.Path(f"{task}.txt").write_text(f"{task} on {os.environ['MACHINE']}, attempt {os.environ['ORCH_ATTEMPT']}\\n")
    subprocess.run(["git", "add", "-A"], check=True)
    subprocess.run(["git", "commit", "-q", "-m", f"work on {task}"], check=True)
""")


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def make_world(root: Path) -> tuple[Path, Path]:
    """A shared folder with the agent and its locks, and a bare remote whose main has one commit."""
    shared = root / "shared"
    (shared / "locks").mkdir(parents=True)
    (shared / "agent.py").write_text(AGENT)
    remote, seed = root / "remote.git", root / "seed"
    git("init", "-q", "--bare", "-b", "main", str(remote), cwd=root)
    git("init", "-q", "-b", "main", str(seed), cwd=root)
    (seed / "README.md").write_text("shared project\n")
    git("add", "-A", cwd=seed)
    git("-c", "user.name=seed", "-c", "user.email=seed@localhost", "commit", "-q", "-m", "start", cwd=seed)
    git("push", "-q", str(remote), "main", cwd=seed)
    return shared, remote


class Machine:
    def __init__(self, root: Path, name: str, remote: Path, url: str, shared: Path, *, sleep: str = "0.05, 0.4",
                 **settings):
        self.name, self.dir = name, root / name
        self.dir.mkdir()
        self.repo = self.dir / "repo"
        git("clone", "-q", str(remote), str(self.repo), cwd=root)
        for key, value in (("user.name", name), ("user.email", f"{name}@localhost")):
            git("config", key, value, cwd=self.repo)
        self.config = self.dir / "agents.yaml"
        self.config.write_text(yaml.safe_dump({
            "repo": str(self.repo), "queue_dir": str(self.dir / "queue"), "state_dir": str(self.dir / "state"),
            "queue_url": url, "push": "origin", "lease_seconds": 5, "tick_seconds": 1, "max_running": 2,
            "retry_backoff_seconds": 0, "max_attempts": 5, "kill_grace_seconds": 0.5,
            "agents": [{"name": f"agent-{name}", "command": [sys.executable, str(shared / "agent.py")],
                        "max_concurrent": 2, "env": {"SHARED": str(shared), "MACHINE": name, "SLEEP": sleep},
                        "env_passthrough": ["SHARED", "MACHINE", "SLEEP"]}], **settings}))
        self.process: subprocess.Popen | None = None

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "orchestrator", "--config", str(self.config), *args],
                              capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "orchestrator", "--config", str(self.config), "--daemon"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def kill(self) -> None:
        """SIGKILL the whole machine: its daemon and everything working under its directory."""
        mine = str(self.dir)
        victims = []
        for process in psutil.process_iter(["cmdline", "cwd"]):
            try:
                if process.pid != os.getpid() and (any(mine in part for part in process.info["cmdline"] or ())
                                                   or (process.info["cwd"] or "").startswith(mine)):
                    victims.append(process)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        for process in victims:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        if self.process is not None:
            self.process.wait(30)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None


