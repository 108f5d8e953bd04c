"""Making a new worktree ready for work: the top level's copy_files, then the project's setup.

One function for both kinds of worktree the orchestrator creates: an agent's (tick/runner.py) and a
merge-queue check slot (flow/landcheck.py), so a check runs where an agent would have run, and a
setup that cannot start, times out or fails is described the same way in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestrator.base.errors import OrchestratorError
from orchestrator.git.copy_files import copy_into_worktree
from orchestrator.process.supervise import run_supervised


@dataclass(frozen=True)
class NotReady:
    why: str  # one line: which step failed and how
    exit_code: int | None = None
    setup_ran: bool = False  # the setup's output (in its log) says more


@dataclass(frozen=True)
class Preparation:
    """What a new worktree gets: copy_files from the repository, the setup command and its limits."""

    copy_files: tuple[str, ...]
    setup: tuple[str, ...] | None  # None or (): no setup
    timeout: float
    grace: float
    max_log_mb: int | None = None


def make_ready(repo: Path, worktree: Path, prep: Preparation, *, env: dict, log_path: Path, token: str,
               adopt_orphans: bool = False) -> NotReady | None:
    """Copy the gitignored files the project needs into a new worktree, then run the setup there
    (its output appended to log_path); None when the worktree is ready."""
    try:
        copy_into_worktree(repo, worktree, prep.copy_files)
    except OrchestratorError as exc:
        return NotReady(str(exc))
    if not prep.setup:
        return None
    ran = run_supervised(list(prep.setup), cwd=worktree, env=env, log_path=log_path, timeout=prep.timeout,
                         token=token, grace=prep.grace, max_log_mb=prep.max_log_mb, adopt_orphans=adopt_orphans)
    if ran.exit_code == 0 and not ran.timed_out:
        return None
    how = (f"timed out after {prep.timeout:g} s" if ran.timed_out else
           f"could not start: {ran.error}" if ran.exit_code is None else f"exit code {ran.exit_code}")
    return NotReady(f"setup {' '.join(prep.setup)!r} failed ({how})", ran.exit_code, setup_ran=True)
