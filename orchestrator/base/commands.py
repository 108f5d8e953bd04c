"""The subprocess funnel: run() for every command the orchestrator waits for, run_attached() for one
a person watches on their terminal (`diff` through git's pager), start_detached() for every process
it leaves running (runners, the fork server, agents, notifiers).

run() raises an error that shows the command, its exit code and its output. A detached
process gets its own session (so a terminal's Ctrl-C or the death of its parent does not
reach it, and its process group is its own to kill) and none of our file descriptors.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple

from orchestrator.base.errors import CommandError


class Completed(NamedTuple):  # (not a dataclass: this module loads first of all, see tick/prestart.py)
    cmd: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def run(
    cmd: Sequence[str],
    *,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    check: bool = True,
    input: str | None = None,
    error: type[CommandError] = CommandError,
) -> Completed:
    """Run cmd to completion and return its output; raise `error` when it fails."""
    argv = [str(c) for c in cmd]
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            input=input,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:
        raise error(argv, None, "", why=f"{argv[0]!r} not found on PATH") from exc
    except PermissionError as exc:
        raise error(argv, None, str(exc), why="permission denied") from exc
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        raise error(argv, None, out, why=f"timed out after {timeout} s") from exc
    done = Completed(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        raise error(argv, proc.returncode, proc.stdout + proc.stderr)
    return done


def run_attached(cmd: Sequence[str], *, cwd: str | Path | None = None, env: Mapping[str, str] | None = None,
                 error: type[CommandError] = CommandError) -> int:
    """Run cmd on our own standard streams (the person's terminal, so a pager and colours work the
    way the program does them there) and return its exit code; raise `error` when it cannot start."""
    argv = [str(c) for c in cmd]
    try:
        return subprocess.run(argv, cwd=cwd, env=dict(env) if env is not None else None, check=False).returncode
    except FileNotFoundError as exc:
        raise error(argv, None, "", why=f"{argv[0]!r} not found on PATH") from exc
    except PermissionError as exc:
        raise error(argv, None, str(exc), why="permission denied") from exc


Stream = int | IO[Any] | None


def start_detached(argv: Sequence[str], *, cwd: str | Path | None = None, env: Mapping[str, str] | None = None,
                   stdin: Stream = subprocess.DEVNULL, stdout: Stream = subprocess.DEVNULL,
                   stderr: Stream = subprocess.DEVNULL) -> subprocess.Popen:
    """Start argv in a new session with no inherited descriptors; the caller owns reaping it.
    Raises OSError (FileNotFoundError, PermissionError, ...) when it cannot start."""
    return subprocess.Popen([str(a) for a in argv], cwd=cwd, env=dict(env) if env is not None else None,
                            stdin=stdin, stdout=stdout, stderr=stderr, start_new_session=True, close_fds=True)
