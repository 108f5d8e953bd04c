"""Running the project's `check` on a merge-queue candidate, in a scratch worktree of the orchestrator's.

Each of `land_parallel` slots is a worktree under <state_dir>/landing/slot-<n>, reused from one
candidate to the next (checked out afresh and cleaned, ignored files kept, so a setup's
virtualenv or caches survive). A new slot gets what an agent's new worktree gets: the top level's
copy_files and setup, by the same function (flow/prepare.py). The check runs with the agents' environment rules (agentenv: built, not
inherited; env_passthrough; the slot's own .venv active), under supervise like an agent, its
process group recorded so a lander killed mid-check has it stopped by the next one.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from orchestrator.base import durable, log
from orchestrator.base.bounded import tail_lines
from orchestrator.base.clock import utcnow
from orchestrator.flow.prepare import Preparation, make_ready
from orchestrator.formats.config import Config
from orchestrator.formats.layout import StateDir
from orchestrator.git import landing
from orchestrator.git.repo import Repo
from orchestrator.process import tree
from orchestrator.process.agentenv import agent_environment, resolve_program, with_worktree_venv
from orchestrator.process.supervise import run_supervised

_log = log.get("orchestrator.land")
OUTPUT_TAIL_BYTES = 6000  # of a failed check's output, handed back to the task as feedback


@dataclass(frozen=True)
class CheckResult:
    commit: str
    passed: bool
    summary: str  # "passed", or how it failed
    output: str  # the newest part of its output
    log_path: Path
    setup_failed: bool = False  # the new slot could not be made ready: the environment's fault, no verdict


def check_environment(cfg: Config, commit: str, token: str, slot: Path) -> dict[str, str]:
    env = agent_environment(os.environ, cfg.agent_defaults.env_passthrough, {}, {
        "ORCH_CHECK_COMMIT": commit, "ORCH_BASE_BRANCH": cfg.base_branch, "ORCH_WORKTREE": str(slot),
        tree.MARKER_VAR: token})
    return with_worktree_venv(env, slot)


def run_check(cfg: Config, repo: Repo, slot_number: int, commit: str) -> CheckResult:
    """Check out commit in the slot, make a new slot ready, run the check; never raises for the
    check's own failure (that is the result), only for our git failing."""
    assert cfg.check is not None
    state = StateDir(cfg.state_dir)
    slot = state.check_slot(slot_number)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S")
    log_path = state.check_logs / f"{stamp}-{commit[:12]}-slot{slot_number}.log"
    durable.make_dirs(state.check_logs)
    log_path.write_bytes(b"")
    token = _token(slot)
    created = landing.checkout(repo, slot, commit)
    env = check_environment(cfg, commit, token, slot)
    if created:
        failed = make_ready(repo.path, slot, preparation(cfg), env=env, log_path=log_path, token=token)
        if failed is not None:
            landing.remove_scratch(repo, slot)  # the next check makes it again
            return CheckResult(commit, False, f"in a new check slot: {failed.why}", _tail(log_path), log_path,
                               setup_failed=True)
        env = check_environment(cfg, commit, token, slot)  # the setup may have made the slot's .venv
    argv = list(cfg.check)
    argv[0] = resolve_program(argv[0], env) or argv[0]
    ran = run_supervised(argv, cwd=slot, env=env, log_path=log_path, timeout=cfg.check_timeout_seconds, token=token,
                         grace=cfg.agent_defaults.kill_grace_seconds, max_log_mb=cfg.agent_defaults.max_log_mb)
    if ran.exit_code == 0 and not ran.timed_out:
        return CheckResult(commit, True, "passed", "", log_path)
    how = (f"timed out after {cfg.check_timeout_seconds:g} s (check_timeout_seconds)" if ran.timed_out else
           f"could not start: {ran.error}" if ran.exit_code is None else f"exit code {ran.exit_code}")
    return CheckResult(commit, False, f"the check {' '.join(cfg.check)!r} failed ({how})", _tail(log_path), log_path)


def preparation(cfg: Config) -> Preparation:
    """What a new slot gets, as an agent's new worktree does: the top level's copy_files and setup."""
    d = cfg.agent_defaults
    return Preparation(d.copy_files, d.setup, d.setup_timeout_seconds, d.kill_grace_seconds, d.max_log_mb)


def stop_leftover_checks(cfg: Config) -> int:
    """Stop what a lander killed part-way left running in its slots (marked with the slot's token, or
    working inside the slot); returns how many processes."""
    state = StateDir(cfg.state_dir)
    stopped = 0
    for slot in sorted(state.landing.glob("slot-*")):
        if slot.is_dir():
            stopped += tree.terminate(_token(slot), grace=cfg.agent_defaults.kill_grace_seconds, cwd_under=slot)
    return stopped


def _token(slot: Path) -> str:
    """The marker of a slot's checks: the same for every check in it, so a later lander finds the
    processes of one it never knew."""
    return "land-" + hashlib.sha256(str(slot.resolve()).encode()).hexdigest()[:16]


def _tail(path: Path) -> str:
    return "\n".join(tail_lines(path, OUTPUT_TAIL_BYTES)).strip()
