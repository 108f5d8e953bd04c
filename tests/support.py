"""Helpers the tests share that are not fixtures (those live in conftest.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DOCS = PROJECT_ROOT / "docs"
SHARED_SAMPLES = PROJECT_ROOT.parent / "shared" / "samples"


def wait_until(predicate, *, timeout: float = 30.0, what: str = "condition", poll: float = 0.05) -> None:
    """Wait for a condition, with a timeout that fails the test naming what it waited for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def waits_for_lock(pid: int, path: Path) -> bool:
    """Whether process pid is blocked in flock on the file path (Linux: a "->" line of /proc/locks)."""
    inode = str(os.stat(path).st_ino)
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" in fields:
            waiter = fields[fields.index("->") + 1:]  # FLOCK ADVISORY WRITE <pid> <major:minor:inode> ...
            if len(waiter) > 4 and waiter[3] == str(pid) and waiter[4].rsplit(":", 1)[-1] == inode:
                return True
    return False


def processes_with(tag: str) -> list:
    """Live processes whose command line mentions tag (to prove nothing was left running)."""
    import psutil
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        try:
            if process.info["status"] != psutil.STATUS_ZOMBIE and tag in " ".join(process.info["cmdline"] or []):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


class DaemonProcess:
    """A real `--daemon` process for one test's config; started and stopped by the test."""

    def __init__(self, env):
        self.env = env
        self.proc = None

    def start(self, extra_env=None):
        # Its console goes to a file (read it after a failure): a pipe nobody reads would block the
        # daemon once it filled, and it could then never see its SIGTERM.
        self.console = self.env.root / f"daemon-console-{len(list(self.env.root.glob('daemon-console-*')))}.log"
        with open(self.console, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "--config", str(self.env.config_path),
                                          "--daemon"], stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, **(extra_env or {})}, cwd=self.env.root)
        pid_file = self.env.config.state_dir / "daemon.pid"
        self.env.wait_until(lambda: pid_file.exists() and pid_file.read_text().strip() == str(self.proc.pid),
                            what="the daemon to start")
        return self

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise AssertionError(f"the daemon did not stop on {sig!r} within {timeout} s; its console:\n"
                                     + self.console.read_text(errors="replace")[-4000:]) from None
        return self.proc.returncode if self.proc else None


class RecordingNotifier:
    """A notifier command (for agents.yaml's notify:) that writes each event it gets to
    <dir>/<kind>-<task>.json: what a person would have been told."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.script = directory.parent / "recording_notifier.py"
        self.script.write_text("import json, pathlib, sys\nevent = json.load(sys.stdin)\n"
                               f"pathlib.Path({str(directory)!r}, f\"{{event['kind']}}-{{event.get('task')}}.json\")"
                               ".write_text(json.dumps(event))\n")

    @property
    def entry(self) -> dict:
        return {"command": [sys.executable, str(self.script)]}

    def told(self, kind: str, task: str) -> dict | None:
        path = self.dir / f"{kind}-{task}.json"
        return json.loads(path.read_text()) if path.exists() else None
