"""Every short-lived subprocess the orchestrator waits for goes through run().

Long-lived children (runners, agents) are started elsewhere with Popen because nobody
waits for them; everything we wait for is here, so a failure always shows the command,
its exit code and its output.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.base.errors import CommandError


@dataclass(frozen=True)
class Completed:
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
