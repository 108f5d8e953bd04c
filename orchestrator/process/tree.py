"""Process identity and process-tree teardown (psutil).

A PID alone is not an identity: PIDs are reused. An Identity is (pid, start time), and a
zombie counts as dead. Agents run in their own process group and carry a marker variable
in their environment, so a teardown finds every descendant, also those that left the group.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

import psutil

MARKER_VAR = "ORCH_RUN_TOKEN"


@dataclass(frozen=True)
class Identity:
    pid: int
    started: float  # psutil create_time(): seconds since the epoch, fixed for the process's life

    def as_record(self) -> dict:
        return {"pid": self.pid, "started": self.started}

    @staticmethod
    def from_record(record: dict | None) -> Identity | None:
        if not record or "pid" not in record or "started" not in record:
            return None
        return Identity(int(record["pid"]), float(record["started"]))


def identity_of(pid: int) -> Identity | None:
    try:
        return Identity(pid, psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None


def is_alive(ident: Identity | None) -> bool:
    """True when the very process of ident still runs (same PID and start time, not a zombie)."""
    if ident is None:
        return False
    try:
        process = psutil.Process(ident.pid)
        if abs(process.create_time() - ident.started) > 0.05:
            return False
        return process.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True  # it exists and is not ours to inspect; never treat it as dead


@dataclass(frozen=True)
class Usage:
    cpu_seconds: float  # user + system, its own and its reaped children's
    rss_bytes: int


def usage(pid: int) -> Usage | None:
    """What the process tree under pid uses now, or None when pid is gone or not ours to see."""
    try:
        root = psutil.Process(pid)
        members = [root] + root.children(recursive=True)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    rss, cpu = 0, 0.0
    for process in members:
        try:
            rss += process.memory_info().rss
            times = process.cpu_times()
            cpu += times.user + times.system + times.children_user + times.children_system
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
    return Usage(cpu, rss)


def marked_processes(token: str, pgid: int | None = None, since: float = 0.0) -> list[psutil.Process]:
    """Live processes of one attempt: those carrying its marker, or in its process group."""
    found = []
    me = os.getpid()
    for process in psutil.process_iter(["pid"]):
        if process.pid == me:
            continue
        try:
            young = process.create_time() >= since - 1  # cheap (from /proc/PID/stat): most processes are older
            if pgid is not None and young and os.getpgid(process.pid) == pgid:
                found.append(process)
                continue
            if young and process.environ().get(MARKER_VAR) == token:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied, ProcessLookupError, OSError):
            continue
    return [p for p in found if _running(p)]


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False


def terminate(token: str, pgid: int | None = None, since: float = 0.0, grace: float = 5.0) -> int:
    """SIGTERM every process of the attempt, SIGKILL what is left after grace; return how many."""
    victims = marked_processes(token, pgid, since)
    if not victims:
        return 0
    _signal_all(victims, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not any(_running(p) for p in victims):
            break
        time.sleep(0.05)
    for _ in range(3):  # kill, then look again for processes forked meanwhile
        left = [p for p in victims if _running(p)] + [
            p for p in marked_processes(token, pgid, since) if p not in victims]
        if not left:
            break
        _signal_all(left, signal.SIGKILL)
        victims = left
        time.sleep(0.05)
    return len(victims)


def _signal_all(processes: list[psutil.Process], sig: int) -> None:
    for process in processes:
        try:
            process.send_signal(sig)
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
