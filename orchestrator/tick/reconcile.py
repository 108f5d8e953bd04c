"""Reconciliation: the first step of every tick, making claimed/ tell the truth.

For each claimed task, its newest attempt decides:
- result.json exists and the runner is gone: roll forward (settle the result);
- owner.json names a live runner (same PID and start time, not a zombie): leave it, unless a
  cancel or stop wrote the result and was cut short before it killed the runner: finish that;
- owner.json names a dead runner: kill what is left of its agent, record runner_died,
  settle (requeue with the attempt counted and backoff, or failed/ after the last);
- no owner.json, and neither the runner the tick launched nor the claiming process is
  alive (or the grace period is over): take ownership ourselves, which fences off a
  runner that starts late, record abandoned, requeue without counting an attempt.
It also removes temporary files a crash left behind.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from orchestrator.base import log
from orchestrator.base.clock import iso, parse_iso, utcnow
from orchestrator.base.errors import GitError
from orchestrator.flow.control import STOP_OUTCOMES, kill_leftovers, kill_runner
from orchestrator.flow.settle import settle
from orchestrator.formats.task import id_problem
from orchestrator.git import worktrees
from orchestrator.git.repo import MOVED_ASIDE_PREFIX, Repo
from orchestrator.process import tree
from orchestrator.store.attempts import Attempt, Result, Runs
from orchestrator.store.backend import QueueBackend

# How long a claim may wait for its runner to write owner.json before we take the task back.
# A runner needs well under a second; this is generous for a machine that is swapping.
OWNERLESS_GRACE_SECONDS = 60.0
TMP_GRACE_SECONDS = 300.0
_log = log.get("orchestrator.reconcile")


@dataclass
class Reconciled:
    running: dict[str, str] = field(default_factory=dict)  # task id -> agent, for live attempts
    ports: set[int] = field(default_factory=set)  # port blocks held by live attempts
    recovered: list[tuple[str, str]] = field(default_factory=list)  # (task id, what happened)


def reconcile(queue: QueueBackend, runs: Runs, now: datetime | None = None, *,
              ownerless_grace: float = OWNERLESS_GRACE_SECONDS) -> Reconciled:
    now = now or utcnow()
    report = Reconciled()
    for task_id in queue.claimed_here():  # (another machine reconciles its own: its leases say it lives)
        try:
            verdict = _check_claimed(queue, runs, task_id, now, ownerless_grace)
        except OSError as exc:
            _log.error("reconcile_failed", task=task_id, error=str(exc), exc_info=True)
            continue
        if verdict is None:
            continue
        kind, detail = verdict
        if kind == "running":
            report.running[task_id] = detail
            latest = runs.latest(task_id)
            spec = latest.spec() if latest else None
            if spec and spec.port_count:
                report.ports.add(spec.port_base)
        else:
            report.recovered.append((task_id, detail))
    return report


def _check_claimed(queue: QueueBackend, runs: Runs, task_id: str, now: datetime,
                   ownerless_grace: float) -> tuple[str, str] | None:
    attempt = runs.latest(task_id)
    spec = attempt.spec() if attempt else None
    if attempt is None or spec is None:
        # Claimed by a process that died before writing the attempt's spec.
        claimed_at = queue.moved_at(task_id, "claimed")
        if claimed_at is None:
            return None  # moved on meanwhile
        if time.time() - claimed_at < ownerless_grace:
            return "running", "?"
        queue.transition(task_id, "claimed", "incoming", actor="reconciler", event="recovered",
                         reason="claimed without an attempt record (the claiming process died)")
        return "recovered", "no attempt record"
    owner = attempt.owner()
    result = attempt.result()
    runner = tree.Identity.from_record(owner)
    if owner and not owner.get("abandoned") and tree.is_alive(runner):
        if result is None or result.outcome not in STOP_OUTCOMES:
            return "running", spec.agent
        kill_runner(attempt)  # a cancel or stop recorded its result, then was cut short: finish it
    killed = kill_leftovers(attempt, spec) if owner and not owner.get("abandoned") else 0
    if result is None:
        result = _result_for_missing(attempt, spec, owner, now, killed, ownerless_grace)
        if result is None:
            return "running", spec.agent
        attempt.write_result(result)
    state = settle(queue, spec, attempt, result, actor="reconciler", now=now)
    _log.info("reconciled", task=task_id, attempt=attempt.number, outcome=result.outcome, state=state)
    return "recovered", result.outcome


def _result_for_missing(attempt: Attempt, spec, owner: dict | None, now: datetime, killed: int,
                        ownerless_grace: float) -> Result | None:
    """The result to record for an attempt that has none, or None if it may still be starting."""
    if owner is None:
        if _may_still_start(attempt, spec, now, ownerless_grace):
            return None
        if not attempt.take_ownership({"abandoned": True, "by": os.getpid(), "since": iso(now)}):
            return None  # the runner took it just now: it is alive, look again next tick
        return Result("abandoned", "the runner never started; requeued without counting an attempt",
                      iso(now), counts=False)
    if owner.get("abandoned"):
        return Result("abandoned", "the runner never started; requeued without counting an attempt",
                      iso(now), counts=False)
    note = f"; killed {killed} leftover agent process(es)" if killed else ""
    return Result("runner_died", f"the runner (pid {owner.get('pid')}) died before the attempt finished{note}",
                  iso(now))


def _may_still_start(attempt: Attempt, spec, now: datetime, grace: float) -> bool:
    """Could a runner still take this ownerless attempt? Only while its launcher or itself lives."""
    claimed_at = parse_iso(spec.claimed_at) or now
    if (now - claimed_at).total_seconds() >= grace:
        return False  # alive or not, it had more than enough time: fence it off
    launched = attempt.launch_record()
    if launched is not None:
        return tree.is_alive(tree.Identity.from_record(launched))
    return tree.is_alive(tree.Identity.from_record(spec.claimed_by))


def sweep_temp_files(queue: QueueBackend, states: tuple[str, ...], max_age: float = TMP_GRACE_SECONDS) -> int:
    """Delete temporary files that a crash left in the queue; a live writer's are younger than max_age."""
    return queue.sweep_temp_files(states, max_age)


def sweep_worktrees(queue: QueueBackend, repo: Repo, worktrees_dir: Path, branch_prefix: str) -> list[str]:
    """Remove worktrees of tasks that are no longer claimed, unless that would lose work.

    Returns why each kept one was kept. Holds the task's lock while it looks, so a claim
    cannot start reusing a worktree between the check and the removal.
    """
    kept = []
    try:
        names = sorted(os.listdir(worktrees_dir))
    except FileNotFoundError:
        names = []
    for task_id in names:
        if task_id.startswith(MOVED_ASIDE_PREFIX):  # a removal cut short: already unregistered, only files remain
            shutil.rmtree(worktrees_dir / task_id, ignore_errors=True)
            continue
        if id_problem(task_id):
            continue
        with queue.task_lock(task_id, blocking=False) as locked:
            if not locked or queue.locate(task_id) == "claimed":
                continue
            try:
                why = worktrees.remove_worktree(repo, worktrees_dir / task_id, branch_prefix + task_id)
            except GitError as exc:
                why = f"could not remove worktree {worktrees_dir / task_id}: {exc}"
        if why:
            kept.append(why)
    if not names:
        worktrees.prune_worktrees(repo)
    return kept
