"""Running one supervised command (an agent, a setup or a teardown) to its end or its limit.

The command runs in its own process group with the attempt's marker in its environment;
its output goes to a log file (never through a pipe we must drain), kept under max_log_mb
while it runs (LogCap); the timeout counts with the monotonic clock; at the end, or at a
limit, every process of the attempt is stopped. A runner supervises as a child subreaper
(adopt_orphans): what the command orphans stays in the runner's tree, and ends with it.
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator.base import durable
from orchestrator.base.commands import start_detached
from orchestrator.process import tree

LIMIT_CHECK_SECONDS = 2.0
STALL_LOOK_SECONDS = 15.0  # how often a quiet agent's output and worktree are looked at (at most)
STALL_WALK_LIMIT = 200_000  # entries of the worktree walked per look (a huge tree: its newest part)


@dataclass(frozen=True)
class Outcome:
    exit_code: int | None  # None: it never started
    timed_out: bool = False
    limit: str | None = None  # why it was killed for a resource limit
    error: str | None = None  # why it could not start
    stalled: bool = False  # killed: no output and no file change for stall_seconds


def run_supervised(argv: list[str], *, cwd: Path, env: dict, log_path: Path, timeout: float, token: str,
                   grace: float, record_path: Path | None = None, memory_limit_mb: int | None = None,
                   cpu_limit_seconds: float | None = None, max_log_mb: int | None = None,
                   adopt_orphans: bool = False, stall_seconds: float | None = None,
                   stdin_path: Path | None = None) -> Outcome:
    """Run argv to its end or its limit. adopt_orphans (a runner only: a long-lived process must
    not become the parent of every orphan below it) makes this process a child subreaper first.
    stall_seconds: stop it when neither its output nor any file under cwd changed for that long.
    stdin_path: a file to read as its standard input (else it reads /dev/null: no one is there)."""
    if adopt_orphans:
        tree.become_subreaper()
    reaper = os.getpid() if tree.is_subreaper() else None  # its descendants are the command's
    with open(log_path, "ab") as out, open(stdin_path or os.devnull, "rb") as given:
        try:
            child = start_detached(argv, cwd=cwd, env=env, stdin=given, stdout=out, stderr=subprocess.STDOUT)
        except (FileNotFoundError, PermissionError, NotADirectoryError, OSError) as exc:
            out.write(f"orchestrator: could not start {argv[0]!r}: {exc}\n".encode())
            return Outcome(None, error=str(exc))
        capped = LogCap(log_path, os.fstat(out.fileno()), max_log_mb * MB) if max_log_mb else None
    ident = tree.identity_of(child.pid)
    started = ident.started if ident else time.time()
    if record_path is not None:
        durable.write_json_atomic(record_path, {"pid": child.pid, "pgid": child.pid, "started": started})
    deadline = time.monotonic() + timeout
    next_check = time.monotonic() + LIMIT_CHECK_SECONDS
    limited = memory_limit_mb is not None or cpu_limit_seconds is not None
    outcome: Outcome | None = None
    exited = ExitWaiter(child)
    quiet = Quiet(log_path, cwd, stall_seconds) if stall_seconds else None
    try:
        while outcome is None:
            now = time.monotonic()
            nap = LOG_BUSY_CHECK_SECONDS if capped is not None and capped.busy else 1.0
            if quiet is not None:
                nap = min(nap, max(0.0, quiet.next_look - now))
            if exited.wait(max(0.0, min(nap, deadline - now, next_check - now if limited else nap))):
                outcome = Outcome(child.returncode)
            elif time.monotonic() >= deadline:
                tree.terminate(token, child.pid, started, grace, tree_of=reaper)
                outcome = Outcome(child.wait(), timed_out=True)
            elif quiet is not None and quiet.stalled(time.monotonic()):
                tree.terminate(token, child.pid, started, grace, tree_of=reaper)
                outcome = Outcome(child.wait(), stalled=True)
            elif limited and time.monotonic() >= next_check:
                next_check = time.monotonic() + LIMIT_CHECK_SECONDS
                why = over_limit(child.pid, memory_limit_mb, cpu_limit_seconds)
                if why:
                    tree.terminate(token, child.pid, started, grace, tree_of=reaper)
                    outcome = Outcome(child.wait(), limit=why)
            if outcome is None and reaper is not None:
                tree.reap_orphans(keep=child.pid)  # adopted orphans that exited: no zombies pile up
            if capped is not None:
                capped.check()
    finally:
        exited.close()
    # Whatever it left behind (a dev server, a stuck grandchild, a daemon it double-forked) ends with it.
    tree.terminate(token, child.pid, started, min(grace, 2.0), tree_of=reaper)
    if reaper is not None:
        tree.reap_orphans()
    if capped is not None:
        capped.check()
    return outcome


MB = 1024 * 1024
LOG_BUSY_CHECK_SECONDS = 0.25  # how often the log is looked at while it is being cut
MARKER_ROOM = 64  # bytes at least for the marker line ("... N bytes cut by max_log_mb ...")
FALLOC_FL_COLLAPSE_RANGE = 0x08  # linux/falloc.h


class LogCap:
    """Keeps a log that a command appends to (O_APPEND, the file it inherited) under max_bytes:
    the first quarter stays, then one marker line "... N bytes cut by max_log_mb ...", then
    the newest output (half of max_bytes). The command is never stopped for talking.

    The middle is cut with fallocate(COLLAPSE_RANGE) where the filesystem has it (ext4, XFS):
    one atomic step under the inode lock, so an append racing the cut lands after it, whole.
    Elsewhere the newest output is copied down and the file truncated behind it: an append in
    the microseconds between the last look and the truncate can be lost. Only the very file
    created for the command is cut (same device and inode, no symlink followed): an agent that
    replaced it with a link to something else gets nothing cut.
    """

    def __init__(self, path: Path, created: os.stat_result, max_bytes: int, *, collapse: bool = True):
        self.path = path
        self.max_bytes = max_bytes
        self.file = (created.st_dev, created.st_ino)
        self.collapse = collapse and sys.platform.startswith("linux")
        self.cut = 0  # bytes of output cut so far (the marker says so)
        self.marker = 0  # length of the marker now in the file, right after the head
        self.busy = False  # the last look found it over the cap: look again sooner

    def check(self) -> None:
        try:
            seen = os.stat(self.path, follow_symlinks=False)
        except OSError:
            return
        self.busy = (seen.st_dev, seen.st_ino) == self.file and seen.st_size > self.max_bytes
        if not self.busy:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) == self.file:
                self._cut(fd, max(st.st_blksize, 512))
        except OSError:
            return  # e.g. the disk is full: the log stays long, the command runs on
        finally:
            os.close(fd)

    def _cut(self, fd: int, block: int) -> None:
        head = max(block, self.max_bytes // 4 // block * block)
        keep = self.max_bytes // 2
        size = os.fstat(fd).st_size
        length = (size - keep - head) // block * block
        if length <= 0:
            return
        if self.collapse and _collapse(fd, head, length):
            # The bytes now at head are the middle of some line: the marker overwrites up to its end.
            after = os.pread(fd, 4096, head)
            newline = after.find(b"\n", MARKER_ROOM - 1)
            room = newline + 1 if newline >= 0 else MARKER_ROOM
            self.cut += length - self.marker + room
            os.pwrite(fd, self._marker_line(room), head)
            self.marker = room
            return
        self.collapse = False
        self._copy_down(fd, head, size - keep)

    def _copy_down(self, fd: int, head: int, start: int) -> None:
        self.cut += start - head - self.marker
        marker = self._marker_line(0)
        target = head + len(marker)
        os.pwrite(fd, marker, head)
        self.marker = len(marker)
        chunk = min(MB, start - target)
        while True:
            data = os.pread(fd, chunk, start)
            if not data:
                break
            os.pwrite(fd, data, target)
            start += len(data)
            target += len(data)
        os.ftruncate(fd, target)

    def _marker_line(self, room: int) -> bytes:
        text = f"\n... {self.cut} bytes cut by max_log_mb ..."
        return (text.ljust(room - 1) + "\n").encode() if room else (text + "\n").encode()


def _collapse(fd: int, offset: int, length: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fallocate = libc.fallocate
    except (OSError, AttributeError):
        return False
    fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
    if fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, offset, length) == 0:
        return True
    if ctypes.get_errno() not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return False


class Quiet:
    """Tells a stalled command: no output and no file change under its directory for `seconds`.

    The log's size is looked at on every look (a talking agent is never stalled); the directory is
    walked (newest mtime of files and directories, .git left out) only while the log is quiet,
    so an agent that works without printing (Claude Code's JSON mode) is not stalled either."""

    def __init__(self, log_path: Path, directory: Path, seconds: float):
        self.log_path, self.directory, self.seconds = log_path, directory, seconds
        self.every = min(STALL_LOOK_SECONDS, seconds / 4)
        now = time.monotonic()
        self.active_at, self.next_look = now, now + self.every
        self._log_mark = _size(log_path)
        self._tree_mark = newest_change(directory)

    def stalled(self, now: float) -> bool:
        if now < self.next_look:
            return False
        self.next_look = now + self.every
        log_mark = _size(self.log_path)
        if log_mark != self._log_mark:
            self._log_mark, self.active_at = log_mark, now
            return False
        tree_mark = newest_change(self.directory)
        if tree_mark != self._tree_mark:
            self._tree_mark, self.active_at = tree_mark, now
            return False
        return now - self.active_at >= self.seconds


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return -1


def newest_change(directory: Path, limit: int = STALL_WALK_LIMIT) -> tuple[int, int]:
    """(newest mtime in ns, entries seen) under directory, without .git; at most `limit` entries."""
    newest, seen, stack = 0, 0, [str(directory)]
    while stack and seen < limit:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                if entry.name == ".git":
                    continue
                seen += 1
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                newest = max(newest, info.st_mtime_ns)
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
    return newest, seen


class ExitWaiter:
    """wait(seconds) -> True as soon as the child has exited, False when the time ran out.

    Popen.wait(timeout) polls with sleeps of up to 50 ms, which every attempt would pay once;
    a pidfd (Linux 5.3+) wakes at the exit itself. Elsewhere, Popen.wait it is.
    """

    def __init__(self, child: subprocess.Popen):
        self.child = child
        self.poller = None
        try:
            self.pidfd = os.pidfd_open(child.pid)
        except (AttributeError, OSError):
            return
        self.poller = select.poll()
        self.poller.register(self.pidfd, select.POLLIN)

    def wait(self, seconds: float) -> bool:
        if self.poller is None:
            try:
                self.child.wait(timeout=seconds)
                return True
            except subprocess.TimeoutExpired:
                return False
        if not self.poller.poll(seconds * 1000):
            return False
        self.child.wait()
        return True

    def close(self) -> None:
        if self.poller is not None:
            os.close(self.pidfd)
            self.poller = None


def over_limit(pid: int, memory_limit_mb: int | None, cpu_limit_seconds: float | None) -> str | None:
    """Why the process tree under pid is over a limit, or None."""
    used = tree.usage(pid)
    if used is None:
        return None
    rss, cpu = used.rss_bytes, used.cpu_seconds
    if memory_limit_mb is not None and rss > memory_limit_mb * 1024 * 1024:
        return f"memory limit: the agent's processes used {rss // (1024 * 1024)} MB (memory_limit_mb {memory_limit_mb})"
    if cpu_limit_seconds is not None and cpu > cpu_limit_seconds:
        return f"CPU limit: the agent's processes used {cpu:.0f} s of CPU (cpu_limit_seconds {cpu_limit_seconds:g})"
    return None
