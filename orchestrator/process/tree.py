"""Process identity and process-tree teardown (psutil).

A PID alone is not an identity: PIDs are reused. An Identity is (pid, start time), and a
zombie counts as dead. Agents run in their own process group and carry a marker variable
in their environment; the runner is a child subreaper (Linux), so whatever an agent orphans
(a double fork, `setsid`) is re-parented to the runner instead of init and stays in its tree,
even with a cleared environment. A teardown ends the group, the marked processes, the
runner's descendants and, when the runner is dead, every process whose working directory is
inside the attempt's worktree; always only processes started since the attempt's agent.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

MARKER_VAR = "ORCH_RUN_TOKEN"
PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h
PR_GET_CHILD_SUBREAPER = 37


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


def wait_gone(idents: list[Identity], seconds: float) -> bool:
    """Wait until none of these processes runs, or seconds passed; True when all are gone."""
    deadline = time.monotonic() + seconds
    while True:
        alive = [i.pid for i in idents if is_alive(i)]
        left = deadline - time.monotonic()
        if not alive or left <= 0:
            return not alive
        _wait_for_an_exit(alive, left)


def _wait_for_an_exit(pids: list[int], seconds: float) -> None:
    """Return once one of pids may have exited, or seconds passed. A pidfd (Linux 5.3+) wakes at
    the exit itself, of any process, a child or not; elsewhere, or for a process that cannot be
    opened, the caller looks again after GONE_POLL_SECONDS."""
    fds = []
    try:
        for pid in pids:
            with contextlib.suppress(OSError, AttributeError):  # gone already, or no pidfd_open here
                fds.append(os.pidfd_open(pid))
        if len(fds) == len(pids):
            select.select(fds, [], [], seconds)  # readable: that process exited
        else:
            time.sleep(min(GONE_POLL_SECONDS, seconds))
    finally:
        for fd in fds:
            os.close(fd)


GONE_POLL_SECONDS = 0.01


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


def _prctl(option: int, arg: int | ctypes.c_void_p) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, arg, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux 3.4+): a process whose
    parent exits is re-parented to us instead of init, so it stays in our tree. Not inherited
    by forked children. The caller reaps what it adopts (reap_orphans)."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def is_subreaper() -> bool:
    flag = ctypes.c_int(0)
    return _prctl(PR_GET_CHILD_SUBREAPER, ctypes.cast(ctypes.pointer(flag), ctypes.c_void_p)) and flag.value != 0


def reap_orphans(keep: int | None = None) -> int:
    """Reap the exited children a subreaper adopted; never `keep` (a child whose Popen will wait
    for it: reaping it here would lose its exit code). Returns how many were reaped."""
    reaped = 0
    while True:
        try:  # WNOWAIT: look at who exited without reaping, so `keep` is left to its Popen
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return reaped
        if info is None or info.si_pid == 0 or info.si_pid == keep:
            return reaped
        try:
            os.waitpid(info.si_pid, 0)
        except ChildProcessError:
            pass
        reaped += 1


def marked_processes(token: str, pgid: int | None = None, since: float = 0.0, *, cwd_under: Path | None = None,
                     tree_of: int | None = None) -> list[psutil.Process]:
    """Live processes of one attempt, started since `since` (seconds since the epoch, with a second
    of slack): those carrying its marker, in its process group, descendants of tree_of (a
    subreaper runner: what the agent orphaned is there), or with their working directory inside
    cwd_under (the worktree: what was orphaned to init when the runner died)."""
    if tree_of is not None and cwd_under is None:
        # A subreaper's tree holds everything the attempt started (what the agent orphaned is
        # re-parented to it), so its children files answer without reading every process of the
        # machine (~65 us each: 40 ms at every attempt's end on a desktop with 600 processes).
        below = _tree_from_children_files(tree_of)
        if below is not None:
            return [p for p in map(_process, below) if p is not None and _started_since(p, since) and _running(p)]
    found = []
    me = os.getpid()
    # One read of each /proc/PID/stat gives both the parent (for the tree) and the start time.
    processes = list(psutil.process_iter(["ppid", "create_time"]))
    descendants = _descendants(processes, tree_of) if tree_of is not None else set()
    root = os.path.realpath(cwd_under) if cwd_under is not None else None
    for process in processes:
        if process.pid == me:
            continue
        try:
            created = process.info["create_time"]
            if created is None or created < since - 1:  # None: not ours to read; most processes are older
                continue
            # cheapest first: the group and the tree need no read of the process's own files
            if ((pgid is not None and os.getpgid(process.pid) == pgid) or process.pid in descendants
                    or process.environ().get(MARKER_VAR) == token
                    or (root is not None and _inside(process.cwd(), root))):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied, ProcessLookupError, OSError):
            continue
    return [p for p in found if _running(p)]


def _tree_from_children_files(pid: int) -> list[int] | None:
    """pid's live descendants from /proc/PID/task/TID/children (Linux with CONFIG_PROC_CHILDREN),
    parents before children; None where those files are missing (then every process is read)."""
    if not os.path.exists(f"/proc/{pid}/task/{pid}/children"):
        return None
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            threads = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue  # it exited meanwhile: its children went to the reaper, which is walked too
        for tid in threads:
            try:
                with open(f"/proc/{parent}/task/{tid}/children") as listed:
                    children = [int(word) for word in listed.read().split()]
            except (OSError, ValueError):
                continue
            for child in children:
                if child not in found:
                    found.append(child)
                    todo.append(child)
    return found


def _started_since(process: psutil.Process, since: float) -> bool:
    try:
        return process.create_time() >= since - 1  # the second of slack marked_processes gives
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _descendants(processes: list[psutil.Process], pid: int) -> set[int]:
    """pid's descendants among processes (process_iter with ppid and create_time), as psutil's
    children(recursive=True) finds them: a child older than pid is a reused PID, not its child."""
    started = {p.pid: p.info["create_time"] for p in processes}
    if started.get(pid) is None:
        return set()
    below: dict[int, list[int]] = {}
    for p in processes:
        if p.info["ppid"] is not None:
            below.setdefault(p.info["ppid"], []).append(p.pid)
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in below.get(todo.pop(), []):
            created = started.get(child)
            if child not in found and created is not None and created >= started[pid]:
                found.add(child)
                todo.append(child)
    return found


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False


def terminate(token: str, pgid: int | None = None, since: float = 0.0, grace: float = 5.0, *,
              cwd_under: Path | None = None, tree_of: int | None = None) -> int:
    """SIGTERM every process of the attempt (marked_processes), SIGKILL what is left after grace;
    return how many."""
    victims = marked_processes(token, pgid, since, cwd_under=cwd_under, tree_of=tree_of)
    if not victims:
        return 0
    _signal_all(victims, signal.SIGTERM)
    # Woken at each exit: an agent's leftover usually goes within a millisecond of SIGTERM, and
    # every attempt whose agent leaves one (codex, now and then) would pay a whole sleep otherwise.
    deadline = time.monotonic() + grace
    while (running := [p.pid for p in victims if _running(p)]) and time.monotonic() < deadline:
        _wait_for_an_exit(running, deadline - time.monotonic())
    for _ in range(3):  # kill, then look again for processes forked meanwhile
        left = [p for p in victims if _running(p)] + [
            p for p in marked_processes(token, pgid, since, cwd_under=cwd_under, tree_of=tree_of)
            if p not in victims]
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
