"""Settling an attempt: turning its result record into the task's next state.

The runner calls settle() when its agent is done; the reconciler calls it for a runner
that died after writing its result. Both go through this one function, and it is safe to
repeat: the task moves only if it is still in claimed/ under this very attempt.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from orchestrator.base import log
from orchestrator.base.clock import iso, utcnow
from orchestrator.base.errors import GitError, MergeRefusedError, OrchestratorError
from orchestrator.flow import checkouts, enqueue, review
from orchestrator.flow.outbox import read_outbox
from orchestrator.formats.layout import StateDir
from orchestrator.git import worktrees
from orchestrator.git.repo import Repo
from orchestrator.process import tree
from orchestrator.process.agentenv import agent_environment
from orchestrator.process.supervise import run_supervised
from orchestrator.store.agentbook import USAGE_LIMIT_REASON, AgentBook
from orchestrator.store.attempts import Attempt, Result, Runs, Spec
from orchestrator.store.backend import QueueBackend

MAX_BACKOFF_SECONDS = 300.0
# An agent whose last N starts all failed before the agent ran (missing binary, bad command)
# is paused, so it stops taking tasks it cannot run.
AGENT_START_FAILURE_LIMIT = 3
# Runs that do not count as attempts (start failures, runs abandoned by a crash) are still
# limited: a task that never gets to run is failed after this many of them.
MAX_UNCOUNTED_RUNS = 10
NEVER_RAN = ("start_failed", "setup_failed", "worktree_failed", "abandoned", "usage_limit")
_log = log.get("orchestrator.settle")


def backoff_seconds(base: float, attempts: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter, capped: base * 2^(n-1), scaled by 0.5 to 1.0."""
    raw = min(MAX_BACKOFF_SECONDS, base * (2 ** max(attempts - 1, 0)))
    return raw * (0.5 + 0.5 * (rng or random).random())


def settle(queue: QueueBackend, spec: Spec, attempt: Attempt, result: Result, *, actor: str,
           now: datetime | None = None, delete_files: bool = True, checked_clean: bool = False) -> str | None:
    """Move the task on according to result; return its new state, or None if nothing moved.

    delete_files=False leaves the removed worktree's files moved aside, for the caller to delete
    (worktrees.delete_moved_aside) once the task has moved on. checked_clean: the caller has just seen
    the worktree clean and nothing has run in it since (see worktrees.remove_worktree).
    """
    now = now or utcnow()
    latest = Runs(Path(spec.state_dir)).latest(spec.task_id)
    if latest is None or latest.number != attempt.number:
        queue.journal.append("stale_result_ignored", task=spec.task_id, actor=actor, attempt=attempt.number)
        return None
    if queue.locate(spec.task_id) != "claimed":
        return None
    if spec.fence and not queue.holds_claim(spec.task_id, spec.fence):
        # Our lease ran out (this machine slept or lost the database) and another runner has the task.
        queue.journal.append("stale_result_refused", task=spec.task_id, actor=actor, attempt=attempt.number,
                             fence=spec.fence)
        return None
    kept = release_worktree(spec, delete_files=delete_files, checked_clean=checked_clean)
    note_agent_health(queue, spec, result, actor)
    note_spend(queue, spec, result, actor, now)
    common: dict[str, Any] = dict(actor=actor, attempt=spec.attempt, agent=spec.agent, outcome=result.outcome,
                                  **usage_details(result))
    if spec.phase == "review":
        return _settle_review(queue, spec, result, now, common)
    if result.outcome == "broken_down":
        try:
            return _settle_breakdown(queue, spec, attempt, result, common)
        except OrchestratorError as exc:
            result = Result("failed", f"could not enqueue the subtasks: {exc}", result.finished_at)
    if result.succeeded and spec.project.review == "none":
        return _accept(queue, spec, f"agent {spec.agent} (review: none)", common)
    updates: dict[str, Any]
    reason = result.reason
    if result.outcome == "usage_limit":
        rest_agent(queue, spec, result, common["actor"])
        dst, updates, event = "incoming", dict(retry_after=None, last_error=_error_text(spec, result)), "usage_limit"
    elif result.outcome == "blocked":
        dst, updates = "blocked", dict(blocked_reason=result.reason, retry_after=None)
        event = "blocked"
    elif result.succeeded:
        dst = "done" if spec.project.review == "none" else "provisional"
        updates, event = dict(last_error=None, retry_after=None), "succeeded"
    elif (over := over_budget(spec)) is not None and result.outcome != "cancelled":
        dst, updates, event = "blocked", dict(blocked_reason=over, retry_after=None,
                                              last_error=_error_text(spec, result)), "over_budget"
        reason = over  # what a notification says: the figure, and what to do
    else:
        attempts = spec.attempts_before + (1 if result.counts else 0)
        updates = dict(attempts=attempts, last_error=_error_text(spec, result))
        uncounted = spec.attempt - attempts
        if result.outcome == "cancelled" or attempts >= spec.max_attempts or uncounted >= MAX_UNCOUNTED_RUNS:
            dst, event = "failed", "failed"
            updates["retry_after"] = None
        else:
            dst, event = "incoming", "retry"
            delay = backoff_seconds(spec.project.retry_backoff_seconds, max(attempts, 1))
            updates["retry_after"] = now + timedelta(seconds=delay) if delay else None
    moved = queue.transition(spec.task_id, "claimed", dst, event=event, reason=reason,
                             updates=updates, kept_worktree=kept, fence=spec.fence or None, **common)
    return dst if moved else None


def _accept(queue: QueueBackend, spec: Spec, reviewer: str, common: dict) -> str | None:
    """Complete the task (merging when configured); hold it in blocked/ if the merge is refused."""
    try:
        repo = Repo(Path(spec.repo))
        review.accept(queue, repo, spec.task_id, "claimed", base_branch=spec.base_branch,
                      branch=spec.branch, merge=spec.project.merge_on_accept, actor=common["actor"], reviewer=reviewer,
                      land=spec.project.merge == "queue")
        checkouts.release(repo, Path(spec.state_dir), spec.task_id, spec.branch)  # decided: a person's checkout goes
        return "landing" if spec.project.merge == "queue" else "done"
    except (GitError, MergeRefusedError) as exc:
        reason = (f"accepted by {reviewer}, but the merge was refused: {exc}. Resolve it, then "
                  f"'python -m orchestrator accept {spec.task_id} --merge'")
        queue.transition(spec.task_id, "claimed", "blocked", event="merge_refused", reason=reason,
                         updates={"blocked_reason": reason[:2000]}, **common)
        return "blocked"


def _settle_review(queue: QueueBackend, spec: Spec, result: Result, now: datetime, common: dict) -> str | None:
    if result.outcome == "accepted":
        return _accept(queue, spec, f"agent {spec.agent}", common)
    if result.outcome == "rejected":
        dst = review.reject(queue, spec.task_id, "claimed", reason=result.reason, max_rejections=spec.project.max_rejections,
                            actor=common["actor"], reviewer=f"agent {spec.agent}")
        checkouts.release(Repo(Path(spec.repo)), Path(spec.state_dir), spec.task_id, spec.branch)
        return dst
    # The reviewer crashed, timed out or never started: that is no verdict, so review again later.
    retry_at = now + timedelta(seconds=backoff_seconds(spec.project.retry_backoff_seconds, 1))
    moved = queue.transition(spec.task_id, "claimed", "provisional", event="review_retry", reason=result.reason,
                             updates={"retry_after": retry_at}, **common)
    return "provisional" if moved else None


def _settle_breakdown(queue: QueueBackend, spec: Spec, attempt: Attempt, result: Result, common: dict) -> str | None:
    """Enqueue the subtasks (again, harmlessly, after a crash), then park the parent until they are done."""
    _, parent = queue.read(spec.task_id, "claimed")
    subtasks = read_outbox(attempt.outbox, parent)
    enqueue.enqueue(queue, subtasks, actor=common["actor"])
    ids = tuple(t.id for t in subtasks)
    moved = queue.transition(spec.task_id, "claimed", "blocked", event="broken_down", reason=result.reason,
                             updates={"subtasks": ids, "blocked_reason": None, "retry_after": None}, **common)
    return "blocked" if moved else None


def rest_agent(queue: QueueBackend, spec: Spec, result: Result, actor: str) -> None:
    """An agent that hit its usage limit takes no work until the time it named (or the cooldown)."""
    def pause(state):
        state.paused_until = result.resume_at
        state.paused_reason = USAGE_LIMIT_REASON
        state.limit_provider = spec.provider  # its peers rest too (AgentBook.paused)
        state.needs_person = False  # it ends by itself
    AgentBook(Path(spec.state_dir)).update(spec.agent, pause)
    queue.journal.append("agent_paused", actor=actor, agent=spec.agent, reason=result.reason,
                         until=result.resume_at)


def usage_details(result: Result) -> dict[str, Any]:
    """The tokens and cost an attempt reported, for its journal event (what stats add up)."""
    fields = {"input_tokens": result.input_tokens, "output_tokens": result.output_tokens,
              "cost_usd": result.cost_usd, "model": result.model}
    return {key: value for key, value in fields.items() if value is not None}


def task_cost(state_dir: Path, task_id: str) -> float:
    """What every attempt of the task cost so far, as the CLIs reported it (unknown counts as 0)."""
    total = 0.0
    for attempt in Runs(state_dir).attempts(task_id):
        result = attempt.result()
        total += (result.cost_usd or 0.0) if result is not None else 0.0
    return total


def over_budget(spec: Spec) -> str | None:
    """Why the task must wait for a person: its attempts reached max_cost_usd; None while within it."""
    if spec.max_cost_usd is None:
        return None
    spent = task_cost(Path(spec.state_dir), spec.task_id)
    if spent < spec.max_cost_usd:
        return None
    return (f"spent ${spent:.2f} of max_cost_usd ${spec.max_cost_usd:.2f} over {spec.attempt} attempt(s); "
            f"raise max_cost_usd or 'python -m orchestrator retry {spec.task_id}' to allow more")


def note_spend(queue: QueueBackend, spec: Spec, result: Result, actor: str, now: datetime) -> None:
    """Add the attempt's cost to its agent's day; at daily_budget_usd the agent rests until midnight UTC."""
    if not result.cost_usd:
        return
    day = now.astimezone(UTC).date()
    midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
    paused: list[str] = []

    def add(state) -> None:
        if state.spent_day != day.isoformat():
            state.spent_day, state.spent_usd = day.isoformat(), 0.0
        state.spent_usd += result.cost_usd or 0.0
        budget = spec.daily_budget_usd
        if budget is not None and state.spent_usd >= budget and not (state.paused_until and state.paused_until >= iso(midnight)):
            state.paused_until, state.needs_person, state.limit_provider = iso(midnight), True, None
            state.paused_reason = (f"daily budget reached: ${state.spent_usd:.2f} of daily_budget_usd ${budget:.2f} "
                                   f"spent today; resting until midnight UTC (or raise it and resume)")
            paused.append(state.paused_reason)
    AgentBook(Path(spec.state_dir)).update(spec.agent, add)
    for reason in paused:
        queue.journal.append("agent_paused", actor=actor, agent=spec.agent, reason=reason, until=iso(midnight))


def note_agent_health(queue: QueueBackend, spec: Spec, result: Result, actor: str) -> None:
    """Count consecutive starts that failed before the agent ran; pause the agent at the limit."""
    book = AgentBook(Path(spec.state_dir))
    failures = book.get(spec.agent).start_failures
    if result.outcome == "start_failed":
        def bump(state):
            state.start_failures += 1
            if state.start_failures >= AGENT_START_FAILURE_LIMIT and not state.paused_reason:
                state.needs_person = True
                state.paused_reason = (f"paused after {state.start_failures} starts in a row failed before the "
                                       f"agent ran; last: {result.reason} (fix the command, then "
                                       f"'python -m orchestrator resume {spec.agent}')")
        state = book.update(spec.agent, bump)
        if state.start_failures == AGENT_START_FAILURE_LIMIT:
            queue.journal.append("agent_paused", actor=actor, agent=spec.agent, reason=state.paused_reason)
    elif failures and result.outcome not in NEVER_RAN:
        book.update(spec.agent, lambda s: setattr(s, "start_failures", 0))


def _error_text(spec: Spec, result: Result) -> str:
    return f"attempt {spec.attempt} ({spec.agent}): {result.outcome}: {result.reason}"[:2000]


def release_worktree(spec: Spec, *, delete_files: bool = True, checked_clean: bool = False) -> str | None:
    """Run the teardown, then remove the attempt's worktree unless that would lose work.

    Returns why the worktree was kept, or None.
    """
    worktree = Path(spec.worktree)
    if spec.teardown and worktree.is_dir():
        log_path = Path(spec.state_dir) / "runs" / spec.task_id / str(spec.attempt) / "teardown.log"
        ran = run_supervised(list(spec.teardown), cwd=worktree, env=agent_environment(
            os.environ, spec.env_passthrough, spec.env, {"ORCH_TASK_ID": spec.task_id, "ORCH_WORKTREE": spec.worktree,
                                                         tree.MARKER_VAR: spec.token}),
            log_path=log_path, timeout=spec.setup_timeout_seconds, token=spec.token, grace=spec.kill_grace_seconds)
        if ran.exit_code != 0:
            _log.warning("teardown_failed", task=spec.task_id, exit_code=ran.exit_code, log=str(log_path))
    try:
        kept = worktrees.remove_worktree(
            Repo(Path(spec.repo)), Path(spec.worktree), spec.branch,
            pool_dir=StateDir(spec.state_dir).pool if spec.project.worktree_pool else None,
            pool_size=spec.project.worktree_pool, base=spec.base_branch, delete_files=delete_files,
            checked_clean=checked_clean and not spec.teardown, ignoring=spec.noise_paths)
    except GitError as exc:
        kept = f"could not remove worktree {spec.worktree}: {exc}"
    if kept:
        _log.warning("worktree_kept", task=spec.task_id, reason=kept)
    return kept
