"""Commands a person gives about one task: retry and cancel (accept and reject are in review.py)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import psutil

from orchestrator.base import durable
from orchestrator.base.clock import iso, utcnow
from orchestrator.base.errors import NotFoundError, StateError
from orchestrator.base.faults import crash_point
from orchestrator.flow import graph
from orchestrator.flow.settle import release_worktree
from orchestrator.formats.config import AgentConfig, Config
from orchestrator.formats.layout import StateDir
from orchestrator.process import tree
from orchestrator.store.agentbook import AgentBook
from orchestrator.store.attempts import Attempt, Result, Runs, Spec
from orchestrator.store.backend import QueueBackend
from orchestrator.store.records import TERMINAL


def pause(cfg: Config, agent: str | None, *, actor: str = "person") -> str:
    if agent is None:
        durable.write_atomic(StateDir(cfg.state_dir).pause_file, f"paused by {actor} at {iso(utcnow())}\n")
        return f"paused: no new work starts until 'resume' (running attempts finish); {StateDir(cfg.state_dir).pause_file}"
    _known_agent(cfg, agent)
    AgentBook(cfg.state_dir).update(agent, lambda s: setattr(s, "paused_reason", f"paused by {actor}"))
    return f"paused agent {agent}"


def resume(cfg: Config, agent: str | None) -> str:
    if agent is None:
        try:
            StateDir(cfg.state_dir).pause_file.unlink()
        except FileNotFoundError:
            return "not paused"
        return "resumed"
    provider = _known_agent(cfg, agent).provider

    def clear(state) -> None:
        state.paused_reason, state.paused_until, state.start_failures = None, None, 0
        state.needs_person, state.limit_provider = False, None
    book = AgentBook(cfg.state_dir)
    book.update(agent, clear)
    if provider is not None:
        book.lift_provider_rest(provider)
    return f"resumed agent {agent}"


def _known_agent(cfg: Config, agent: str) -> AgentConfig:
    known = cfg.agent(agent)
    if known is None:
        names = ", ".join(a.name for a in cfg.agents)
        raise NotFoundError(f"no agent '{agent}' in {cfg.path} (agents: {names})")
    return known


def retry(queue: QueueBackend, task_id: str, *, actor: str = "person") -> str:
    """Give a failed or blocked task another round: back to incoming/ (or blocked/ for dependencies).
    A file in quarantine (invalid/) is read again and taken back if it is valid now."""
    state = queue.locate(task_id)
    quarantined = queue.find_invalid(task_id) if state is None else None
    if quarantined is not None:
        return queue.readmit(quarantined, actor=actor)[1]  # (TaskFileError: still invalid, says why)
    if state not in ("failed", "blocked"):
        raise StateError(f"task '{task_id}' is in {state or 'no state'}/; retry takes a task from failed/ or blocked/")
    _, task = queue.read(task_id, state)
    dst = graph.waiting_state(queue, task.depends_on)
    updates: dict[str, Any] = {"blocked_reason": None, "retry_after": None}
    if state == "failed":
        updates.update(attempts=0, last_error=None)
    if task.subtasks:
        dst = "blocked"  # a broken-down task still waits for its subtasks
    if queue.transition(task_id, state, dst, actor=actor, event="retried", reason=f"retried by {actor}",
                        updates=updates) is None:
        now = queue.locate(task_id)
        raise StateError(f"task '{task_id}' moved to {now or 'no state'}/ meanwhile; it was not retried")
    if dst == "blocked":
        graph.release_waiting(queue, actor=actor, entries=[e for e in graph.blocked_entries(queue) if e.id == task_id])
    return queue.locate(task_id) or dst


def cancel(cfg: Config, queue: QueueBackend, task_id: str, *, actor: str = "person") -> str:
    """Stop a task wherever it is short of done/ or failed/; a running attempt's processes are killed."""
    for round_ in range(5):  # the task may move while we stop it (a runner finishing): follow it
        state = queue.locate(task_id)
        if state is None:
            raise NotFoundError(f"no task '{task_id}' in {queue.where}")
        if state == "failed" and round_ > 0:
            return "failed"  # a tick settled our cancel's result first
        if state in TERMINAL:
            raise StateError(f"task '{task_id}' is already in {state}/; nothing to cancel")
        if state == "claimed":
            stop_attempt(queue, Runs(cfg.state_dir), task_id)
        moved = queue.transition(task_id, state, "failed", actor=actor, event="cancelled", reason="cancelled",
                                 updates={"last_error": f"cancelled by {actor}", "retry_after": None})
        if moved is not None:
            return "failed"
    raise StateError(f"task '{task_id}' kept moving; try again")


def stop_all(cfg: Config, queue: QueueBackend, *, actor: str = "person") -> list[str]:
    """Stop every running attempt; its task goes back to incoming/ without using up an attempt."""
    stopped = []
    runs = Runs(cfg.state_dir)
    for task_id in queue.claimed_here():  # another machine's runners are its own to stop
        stop_attempt(queue, runs, task_id, outcome="stopped",
                     reason=f"stopped by {actor} (stop --kill-agents)")
        attempt = runs.latest(task_id)
        spec = attempt.spec() if attempt else None
        updates = {"attempts": spec.attempts_before} if spec else {}
        if queue.transition(task_id, "claimed", "incoming", actor=actor, event="stopped",
                            reason="stopped with its agent; it will run again", updates=updates):
            stopped.append(task_id)
    return stopped


# The outcomes only a stop writes (cancel, stop --kill-agents), never a runner: a result of these
# while the runner still lives is a stop cut short, which the next tick finishes (reconcile).
STOP_OUTCOMES = ("cancelled", "stopped")


def stop_attempt(queue: QueueBackend, runs: Runs, task_id: str, *, outcome: str = "cancelled",
                 reason: str = "cancelled by a person") -> None:
    """Kill the runner of the task's current attempt, then every process of its agent."""
    attempt = runs.latest(task_id)
    spec = attempt.spec() if attempt else None
    if attempt is None or spec is None:
        return
    # The result first: if this process is killed half-way, reconcile finds the runner dead and this
    # result, and finishes the stop as asked, the attempt uncounted (not as a runner that died).
    if attempt.result() is None:
        attempt.write_result(Result(outcome, reason, iso(utcnow()), counts=False))
    crash_point("stop_before_kill")
    kill_runner(attempt)
    kill_leftovers(attempt, spec)
    release_worktree(spec)


def kill_runner(attempt: Attempt) -> None:
    """SIGKILL the attempt's runner if it still lives (its agent's processes are left to kill_leftovers)."""
    owner = tree.Identity.from_record(attempt.owner())
    if owner is not None and tree.is_alive(owner):
        try:
            psutil.Process(owner.pid).send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass


def kill_leftovers(attempt: Attempt, spec: Spec) -> int:
    """End every process the attempt's agent left, with the grace its spec froze: its group, its
    marker and, since its runner is dead (its orphans went to init), every process started since
    the agent whose working directory is inside the worktree (one that cleared its environment)."""
    agent = attempt.agent_record() or {}
    since = float(agent.get("started") or 0)
    return tree.terminate(spec.token, agent.get("pgid"), since, spec.kill_grace_seconds,
                          cwd_under=Path(spec.worktree) if since else None)
