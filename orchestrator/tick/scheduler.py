"""The tick: reconcile, release, dispatch. One call of Scheduler.tick() is one tick.

The tick never runs an agent itself: it claims a task and starts a detached runner, so a
tick takes milliseconds whatever the agents do. Ticks are serialized by a lock in the
state directory (a cron tick and the daemon may both run); the claim is atomic without it.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from orchestrator.base import durable, log
from orchestrator.base.clock import iso, utcnow
from orchestrator.base.errors import GitError
from orchestrator.base.faults import crash_point
from orchestrator.base.locks import FileLock
from orchestrator.flow import graph
from orchestrator.flow.settle import MAX_BACKOFF_SECONDS
from orchestrator.formats.config import REVIEW_ROLE, AgentConfig, Config
from orchestrator.formats.layout import StateDir
from orchestrator.formats.settings import AgentSettings, values_of
from orchestrator.formats.task import Task
from orchestrator.git.repo import Repo
from orchestrator.process import tree
from orchestrator.store.agentbook import AgentBook
from orchestrator.store.attempts import Attempt, Runs, Spec
from orchestrator.store.backend import index_of, open_queue
from orchestrator.store.records import Entry
from orchestrator.tick.landstart import LanderStarter
from orchestrator.tick.launcher import Launcher, RunnerLauncher
from orchestrator.tick.notify import Delivery
from orchestrator.tick.reconcile import OWNERLESS_GRACE_SECONDS, reconcile, sweep_temp_files, sweep_worktrees

_log = log.get("orchestrator.scheduler")
TICK_LOCK_WAIT_SECONDS = 10.0
SWEEP_EVERY_SECONDS = 60.0


@dataclass
class TickReport:
    at: datetime
    skipped: bool = False
    running: dict[str, str] = field(default_factory=dict)  # task id -> agent
    started: list[tuple[str, str]] = field(default_factory=list)  # (task id, agent)
    released: list[str] = field(default_factory=list)
    recovered: list[tuple[str, str]] = field(default_factory=list)
    broken: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


class Scheduler:
    def __init__(self, config: Config, *, persist_index: bool = True,
                 ownerless_grace: float = OWNERLESS_GRACE_SECONDS, long_lived: bool = False,
                 launcher: RunnerLauncher | None = None, fork_server: subprocess.Popen | None = None):
        """long_lived: this scheduler runs many ticks (daemon, --drain), so a fork server for its
        runners pays off (config.fork_runners); a single --once tick starts its runners fresh.
        launcher: who starts the runners (default: real detached processes); RecordingLauncher
        starts none, for tests and dry runs. fork_server: one started ahead (tick/prestart.py),
        adopted by the default launcher when it forks, let go otherwise."""
        self.config = config
        self._own_launcher = launcher is None
        self.launcher: RunnerLauncher = launcher or Launcher(
            config.state_dir, fork=long_lived and config.fork_runners, server=fork_server)
        self._long_lived = long_lived
        self.queue = open_queue(config)
        self.runs = Runs(config.state_dir)
        self.index = index_of(self.queue, StateDir(config.state_dir).index if persist_index else None)
        self.book = AgentBook(config.state_dir)
        self.children: list[subprocess.Popen] = []
        self.ownerless_grace = ownerless_grace
        identity = tree.identity_of(os.getpid())
        assert identity is not None, "a running process always has an identity"
        self.identity = identity
        self.kept_worktrees: list[str] = []
        self._ports_held: set[int] = set()
        self.notifications = Delivery(self.queue.journal, config.state_dir)
        self._groups: dict[tuple, list[Entry]] | None = None  # sorted candidates, rebuilt when incoming/ changes
        self._groups_generation: int | None = None
        self._blocked_memo: tuple | None = None
        self.lander = LanderStarter(config, self.queue)
        self.queue.ensure_dirs()

    # ---- the tick -----------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> TickReport:
        """One tick. Returns what it did; skipped=True when another tick held the lock too long."""
        now = now or utcnow()
        started = time.monotonic()
        report = TickReport(at=now)
        self.queue.check_dirs()
        lock = FileLock(StateDir(self.config.state_dir).tick_lock)
        if not lock.acquire(timeout=TICK_LOCK_WAIT_SECONDS):
            report.skipped = True
            return report
        try:
            self._reap_children()
            self._prepare_launcher()
            rec = reconcile(self.queue, self.runs, now,
                            ownerless_grace=self.ownerless_grace)
            if self._long_lived:
                self.queue.note_daemon(self.identity.pid, self.identity.started)  # (status: every machine's)
            for task_id in self.queue.expire_leases(actor="tick", max_attempts=self.config.max_attempts):  # (PostgreSQL)
                _log.warning("lease_expired", task=task_id)
                rec.recovered.append((task_id, "lease_expired"))
            # After reconcile: settling a result it found may have rested an agent (usage limit).
            self.book.reload()
            report.running, report.recovered = rec.running, rec.recovered
            for task_id in self.queue.look_again():  # fixed in invalid/: back in the queue
                _log.info("readmitted", task=task_id)
            # Each directory is listed once per tick (again only if a release changed incoming/).
            blocked, blocked_broken = self.index.scan("blocked")
            report.released = self.release_blocked(blocked)
            incoming, incoming_broken = self.index.scan("incoming")
            self._ports_held = set(rec.ports)
            report.started = self.dispatch(now, report.running, incoming)
            for task_id, agent in report.started:
                report.running[task_id] = agent
            report.broken = incoming_broken + blocked_broken
            self._quarantine("incoming", incoming_broken)
            self._quarantine("blocked", blocked_broken)
            lander = self.lander.maybe_start()
            if lander is not None:
                self.children.append(lander)
            self._maybe_sweep()
            self.notifications.deliver(self.config.notify, self.children)
            self.index.save()
            report.seconds = time.monotonic() - started
            durable.write_cache(StateDir(self.config.state_dir).last_tick,
                                f'{{"at": "{iso(now)}", "pid": {os.getpid()}, "ms": {report.seconds * 1000:.1f}}}\n')
        finally:
            lock.release()
        return report

    def _prepare_launcher(self) -> None:
        """Follow config reloads of fork_runners; have the fork server loading before it is needed."""
        fork = self._long_lived and self.config.fork_runners
        if self._own_launcher and fork != self.launcher.fork:
            self.launcher.close()
            self.launcher.fork = fork
        self.launcher.prepare()

    def close(self) -> None:
        """Let go of what this scheduler holds between ticks (its fork server; runners run on)."""
        self.launcher.close()

    def _quarantine(self, state: str, broken: list[tuple[str, str]]) -> None:
        for name, problem in broken:
            if self.queue.quarantine(name, state, problem) is not None:
                _log.warning("quarantined", file=name, reason=problem)

    def _maybe_sweep(self) -> None:
        """Clean up after crashes once a minute (a stamp file spaces it out across --once processes too)."""
        stamp = StateDir(self.config.state_dir).sweep_stamp
        try:
            if time.time() - stamp.stat().st_mtime < SWEEP_EVERY_SECONDS:
                return
        except FileNotFoundError:
            pass
        stamp.touch()
        sweep_temp_files(self.queue, ("incoming", "blocked", "claimed", "provisional", "failed"))
        try:
            self.kept_worktrees = sweep_worktrees(self.queue, Repo(self.config.repo),
                                                  StateDir(self.config.state_dir).worktrees, self.config.branch_prefix)
        except GitError as exc:
            _log.error("worktree_sweep_failed", error=str(exc))

    # ---- dependencies -------------------------------------------------------------

    def release_blocked(self, entries: list[Entry]) -> list[str]:
        """Move blocked tasks whose dependencies are all done to incoming/ (the safety net).

        Skipped when nothing waits, or when neither done/ nor blocked/ changed since the last look."""
        if not entries:
            return []  # (and done/ is not looked at: on PostgreSQL that is a pass over every done row)
        memo = (self.queue.generation("done"), frozenset(e.id for e in entries))
        if memo == self._blocked_memo:
            return []
        released = graph.release_waiting(self.queue, actor="tick", entries=entries)
        self._blocked_memo = None if released else memo
        return released

    # ---- dispatch -----------------------------------------------------------------

    def dispatch(self, now: datetime, running: dict[str, str], entries: list[Entry]) -> list[tuple[str, str]]:
        cfg = self.config
        room = cfg.max_running - len(running)
        if room <= 0 or StateDir(cfg.state_dir).pause_file.exists():
            return []
        load: dict[str, int] = {}
        for agent_name in running.values():
            load[agent_name] = load.get(agent_name, 0) + 1
        agents = [a for a in cfg.agents if self._available(a, load, now)]
        if not agents:
            return []
        generation = self.index.generation.get("incoming")
        if generation != self._groups_generation or self._groups is None:
            self._groups, self._groups_generation = _candidates(entries), generation
        queues = dict(self._groups)  # _claim_for copies a list before it takes from it
        if cfg.review == "agent" and any(a.role == REVIEW_ROLE for a in agents):
            reviews, _ = self.index.scan("provisional")
            queues[("review",)] = _candidates(reviews, key=lambda e: ("review",)).get(("review",), [])
        started: list[tuple[str, str]] = []
        agents.sort(key=lambda a: self.book.get(a.name).last_start or "")
        progress = True
        while room > 0 and progress:
            progress = False
            for agent in agents:
                if room <= 0 or not self._available(agent, load, now):
                    continue
                task_id = self._claim_for(agent, queues, now)
                if task_id is None:
                    continue
                load[agent.name] = load.get(agent.name, 0) + 1
                room -= 1
                started.append((task_id, agent.name))
                progress = True
        return started

    def _available(self, agent: AgentConfig, load: dict[str, int], now: datetime) -> bool:
        if agent.paused or self.book.paused(agent.name, now, agent.provider):
            return False
        if load.get(agent.name, 0) >= agent.max_concurrent:
            return False
        last = self.book.last_start(agent.name)
        return not (agent.interval_seconds and last and now - last < timedelta(seconds=agent.interval_seconds))

    def _claim_for(self, agent: AgentConfig, queues: dict[tuple, list[Entry]], now: datetime) -> str | None:
        """Claim the best task this agent may take: a review waiting for it, pinned to it, or of its role."""
        for key in (("review",), ("agent", agent.name), ("role", agent.role)):
            if key in queues and not isinstance(queues[key], _Taken):
                queues[key] = _Taken(queues[key])  # a per-tick copy: the cached list stays whole
        reviews = queues.get(("review",), []) if agent.role == REVIEW_ROLE else []
        pinned, shared = queues.get(("agent", agent.name), []), queues.get(("role", agent.role), [])
        now_ts = now.timestamp()
        while reviews or pinned or shared:
            if reviews:
                entry = reviews.pop()
            elif pinned and (not shared or pinned[-1].sort_key() <= shared[-1].sort_key()):
                entry = pinned.pop()
            else:
                entry = shared.pop()
            if now_ts < entry.retry_after <= now_ts + MAX_BACKOFF_SECONDS:
                continue  # still backing off (further off than any backoff: the clock was set back; due)
            if entry.state == "incoming" and entry.depends_on and graph.unmet(self.queue, entry.depends_on):
                # Dropped in by hand before its dependencies were done: it waits in blocked/.
                self.queue.transition(entry.id, "incoming", "blocked", actor="tick", event="blocked",
                                      reason="waiting for dependencies")
                continue
            attempt_box: list[Attempt] = []
            phase = "review" if entry.state == "provisional" else "work"
            task = self.queue.claim(entry.id, partial(self._prepare_into, attempt_box, agent, now, phase),
                                    src=entry.state)
            if task is None:
                continue
            crash_point("tick_after_claim")
            self.start_runner(attempt_box[0])
            # After the start, which it would only delay: a crash in between forgets one start
            # time, and so at worst lets one start through an agent's interval_seconds early.
            self.book.update(agent.name, lambda s: setattr(s, "last_start", iso(now)))
            _log.info("dispatched", task=entry.id, agent=agent.name, attempt=attempt_box[0].number)
            return entry.id
        return None

    def _prepare_into(self, box: list[Attempt], agent: AgentConfig, now: datetime, phase: str, task: Task,
                      fence: int) -> None:
        box.append(self._prepare(task, agent, now, phase, fence))

    def _prepare(self, task: Task, agent: AgentConfig, now: datetime, phase: str, fence: int = 0) -> Attempt:
        cfg = self.config
        attempt = self.runs.new_attempt(task.id)
        attempt.write_spec(Spec(
            **values_of(agent, AgentSettings), project=cfg.project,
            task_id=task.id, attempt=attempt.number, token=secrets.token_hex(8), agent=agent.name,
            role=agent.role, title=task.title, command=agent.command, env=dict(agent.env),
            worktree=str(StateDir(cfg.state_dir).worktree(task.id)), branch=cfg.branch_of(task.id),
            max_attempts=task.max_attempts or cfg.max_attempts, attempts_before=task.attempts,
            claimed_at=iso(now), claimed_by=self.identity.as_record(), phase=phase,
            port_base=self._take_port_block(), port_count=cfg.port_block_size,
            sparse_paths=task.sparse_paths, feedback=task.feedback, fence=fence,
        ))
        return attempt

    def _take_port_block(self) -> int:
        """The lowest block of ports that no running attempt holds (ticks are serialized by the tick lock)."""
        cfg = self.config
        port = cfg.port_base
        while port in self._ports_held:
            port += cfg.port_block_size
        self._ports_held.add(port)
        return port

    def start_runner(self, attempt: Attempt) -> None:
        launched = self.launcher.launch(attempt.dir)
        if launched:
            attempt.write_launch_record(launched.as_record())

    def _reap_children(self) -> None:
        self.launcher.reap()
        for child in self.children:
            code = child.poll()
            if code is not None:
                program = self.notifications.started.pop(child.pid, None)
                if code != 0 and program is not None:
                    _log.error("notifier_failed", command=program, exit_code=code)
        self.children = [c for c in self.children if c.poll() is None]

    # ---- draining -----------------------------------------------------------------

    def has_work(self, report: TickReport) -> bool:
        """Is anything running (a claimed task, or a runner of ours still finishing), or waiting in
        incoming/ for an agent that is not paused?"""
        if self._busy(report):
            return True
        if StateDir(self.config.state_dir).pause_file.exists():
            return False
        reviewers = [a for a in self.config.agents if a.role == REVIEW_ROLE and not a.paused]
        if self.config.review == "agent" and reviewers and self.queue.count("provisional"):
            return True
        return any(True for _ in self._runnable(report.at))

    def next_retry(self, report: TickReport) -> tuple[float, str] | None:
        """When nothing runs and every runnable task is backing off: the soonest retry (epoch
        seconds) and its task; None otherwise."""
        if self._busy(report) or StateDir(self.config.state_dir).pause_file.exists():
            return None
        waits = [(e.retry_after, e.id) for e in self._runnable(report.at)]
        if not waits or min(waits)[0] <= report.at.timestamp():
            return None
        return min(waits)

    def only_runners_ending(self, report: TickReport) -> bool:
        """Every attempt has settled, and what is left is runners still ending (deleting an old
        worktree's files, exiting): worth waiting for their exits, not for the next tick."""
        return not report.running and not self.children and self.launcher.alive() > 0

    def _busy(self, report: TickReport) -> bool:
        self._reap_children()
        return bool(report.running or self.children or self.launcher.alive())

    def _runnable(self, now: datetime) -> Iterator[Entry]:
        """Tasks in incoming/ that an agent which is not paused may take (backing off or not)."""
        entries, _ = self.index.scan("incoming")
        for entry in entries:
            for agent in self.config.agents:
                if agent.paused or self.book.paused(agent.name, now, agent.provider):
                    continue
                if entry.agent == agent.name or (entry.agent is None and entry.role == agent.role):
                    yield entry
                    break


def _by_pin_or_role(entry: Entry) -> tuple:
    return ("agent", entry.agent) if entry.agent else ("role", entry.role)


class _Taken(list):
    """A tick's own copy of a cached candidate list, to pop from."""


def _candidates(entries: list[Entry], key=_by_pin_or_role) -> dict[tuple, list[Entry]]:
    """Entries grouped (by pin or role), each list sorted with the best task last (for pop())."""
    groups: dict[tuple, list[Entry]] = {}
    for entry in entries:
        groups.setdefault(key(entry), []).append(entry)
    for group in groups.values():
        group.sort(key=Entry.sort_key, reverse=True)
    return groups
