"""The public Python API: `Orchestrator`, one object per agents.yaml.

    from orchestrator import Orchestrator
    orch = Orchestrator("agents.yaml")
    task = orch.enqueue("Fix the login redirect", body="It loops after SSO.", priority="P1")
    orch.drain(timeout=600)
    orch.accept(task.id, merge=True)

Every CLI command is "parse, call one of these, print"; the rules (what may be enqueued,
which state a decision needs) live below, in flow/, so the CLI, import, outboxes and scripts
share them. Methods return frozen records; expected failures raise OrchestratorError
subclasses (NotFoundError, StateError, UsageError, GitError, ConfigError) with one clear line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator.base import log
from orchestrator.base.errors import StateError, UsageError
from orchestrator.base.records import from_record
from orchestrator.flow import checkouts, control, review
from orchestrator.flow.checkouts import PruneItem, PruneReport, ReviewCheckout, TaskDiff
from orchestrator.flow.enqueue import NewTask, enqueue_one
from orchestrator.flow.land import Round as LandRound
from orchestrator.flow.land import land_until_idle
from orchestrator.formats import config as configmod
from orchestrator.formats import task as taskfmt
from orchestrator.formats.config import Config
from orchestrator.formats.layout import StateDir
from orchestrator.git.repo import Repo
from orchestrator.observe import views
from orchestrator.plans import importer
from orchestrator.plans.report import ImportReport
from orchestrator.process.wake import poke
from orchestrator.store.attempts import Runs
from orchestrator.store.backend import open_queue
from orchestrator.tick.drain import drain
from orchestrator.tick.scheduler import Scheduler, TickReport

# The records of diff, checkout and prune are flow's (checkouts.py); they are part of this API too.
__all__ = ["AttemptRecord", "Decision", "Orchestrator", "PruneItem", "PruneReport", "ReviewCheckout", "TaskDetail",
           "TaskDiff", "TaskRecord"]


@dataclass(frozen=True, kw_only=True)
class TaskRecord:
    """One task as `list` shows it."""

    id: str
    state: str
    title: str
    role: str
    priority: str
    agent: str | None
    attempts: int  # attempts that count toward max_attempts (failures)
    attempts_run: int  # every attempt started
    depends_on: tuple[str, ...]
    created: str | None
    retry_after: str | None
    last_error: str | None
    blocked_reason: str | None


@dataclass(frozen=True, kw_only=True)
class AttemptRecord:
    attempt: int
    agent: str | None
    claimed_at: str | None
    runner_pid: int | None
    outcome: str | None
    reason: str | None
    finished_at: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    model: str | None
    log: str
    leftover_patch: str | None = None  # an earlier attempt's uncommitted changes, set aside when this one began
    resume_at: str | None = None  # a usage limit ended it: when the agent may run again


@dataclass(frozen=True, kw_only=True)
class TaskDetail(TaskRecord):
    """One task as `show` shows it: the row, its body, its branch and worktree, every attempt."""

    body: str
    branch: str
    file: str
    worktree: str | None
    runs: tuple[AttemptRecord, ...]
    parent: str | None
    subtasks: tuple[str, ...]
    cost_usd: float  # every attempt's cost as its CLI reported it (0 where it said nothing)
    tokens: int
    waiting_for: tuple[dict[str, Any], ...]
    failed_dependencies: tuple[str, ...] = ()
    review_worktree: str | None = None  # a person's checkout of the branch (`checkout ID`), while it exists


@dataclass(frozen=True)
class Decision:
    """What a decision (accept, reject, retry, cancel) did: the task's state afterwards, and how;
    notes: what the person should know besides (a review worktree kept because it has changes)."""

    task_id: str
    state: str
    detail: str
    notes: tuple[str, ...] = ()


class Orchestrator:
    """One agents.yaml: its queue, its agents, its repository."""

    def __init__(self, config_path: str | Path | None = None, *, config: Config | None = None):
        """config_path: agents.yaml (default: $ORCHESTRATOR_CONFIG, else ./agents.yaml).
        config: an already loaded configuration instead. Raises ConfigError when it is invalid."""
        self.config = config if config is not None else configmod.load(configmod.find_config_path(
            str(config_path) if config_path is not None else None))
        self.queue = open_queue(self.config)
        self._scheduler: Scheduler | None = None
        if not log.configured():  # a script's own terminal stays quiet; the events go to the state's log
            log.configure(StateDir(self.config.state_dir).log_file, to_terminal=False)

    # ---- tasks ----------------------------------------------------------------------

    def enqueue(self, title: str, body: str = "", *, task_id: str | None = None, priority: str | None = None,
                role: str | None = None, agent: str | None = None, depends_on: Iterable[str] = (),
                max_attempts: int | None = None) -> TaskRecord:
        """Add a task; it starts in incoming/, or blocked/ while a dependency is not done."""
        self.queue.ensure_dirs()
        task, state = enqueue_one(self.queue, NewTask(
            title=title, body=body, task_id=task_id, priority=priority, role=role, agent=agent,
            depends_on=tuple(depends_on), max_attempts=max_attempts),
            # agents.yaml invalid: the pin is checked when the file is fixed (the tick warns of an unknown agent)
            agents=None if self.config.problem else [a.name for a in self.config.agents])
        poke(self.config.state_dir)
        return _task_record(views.task_row(task, state))

    def tasks(self, state: str | None = None) -> list[TaskRecord]:
        return [_task_record(row) for row in views.list_tasks(self.queue, state, Runs(self.config.state_dir)) if "error" not in row]

    def show(self, task_id: str) -> TaskDetail:
        row = views.show_task(self.config, self.queue, taskfmt.check_id(task_id))
        return from_record(TaskDetail, row)

    def branch(self, task_id: str) -> str:
        return self.config.branch_of(taskfmt.check_id(task_id))

    def status(self) -> dict[str, Any]:
        """The board's data (the `status --json` shape)."""
        return views.status(self.config, self.queue)

    # ---- decisions --------------------------------------------------------------------

    def accept(self, task_id: str, *, merge: bool = False, land: bool | None = None,
               actor: str = "person") -> Decision:
        """A task waiting for review goes to done/ (merging its branch into the base first, if asked);
        with the merge queue (land, by default when agents.yaml says `merge: queue`), to landing/,
        from where the merge queue lands it once the check passed."""
        taskfmt.check_id(task_id)
        state = self.queue.locate(task_id)
        src = state if state in ("provisional", "blocked") else "provisional"
        repo = Repo(self.config.repo)
        to_land = land if land is not None else self.config.merge == "queue"
        if merge and not to_land:
            checkouts.bring_branch(self.config, repo, task_id)  # it may have run on another machine
        how = review.accept(self.queue, repo, task_id, src, base_branch=self.config.base_branch,
                            branch=self.branch(task_id), merge=merge, actor=actor, land=to_land)
        poke(self.config.state_dir)
        return Decision(task_id, "landing" if to_land else "done", how, self._release(task_id))

    def land(self, *, max_rounds: int | None = None, on_round: Any = None, on_check: Any = None) -> list[LandRound]:
        """Run the merge queue in this process until landing/ is empty or must wait (see flow/land.py);
        raises StateError when another lander (the daemon's) is at it."""
        rounds = land_until_idle(self.config, self.queue, max_rounds=max_rounds, on_round=on_round,
                                 on_check=on_check)
        poke(self.config.state_dir)
        return rounds

    def reject(self, task_id: str, reason: str, *, actor: str = "person") -> Decision:
        """Send a task waiting for review back for another attempt, with the reason as feedback."""
        taskfmt.check_id(task_id)
        state = self.queue.locate(task_id)
        if state != "provisional":
            raise StateError(f"task '{task_id}' is in {state or 'no state'}/; only a task in provisional/ "
                             "can be rejected")
        if not reason.strip():
            raise UsageError("the reason must say what to change")
        dst = review.reject(self.queue, task_id, "provisional", reason=reason.strip(),
                            max_rejections=self.config.max_rejections, actor=actor)
        poke(self.config.state_dir)
        return Decision(task_id, dst, "rejected", self._release(task_id))

    def retry(self, task_id: str, *, actor: str = "person") -> Decision:
        state = control.retry(self.queue, taskfmt.check_id(task_id), actor=actor)
        poke(self.config.state_dir)
        return Decision(task_id, state, "retried")

    def cancel(self, task_id: str, *, actor: str = "person") -> Decision:
        state = control.cancel(self.config, self.queue, taskfmt.check_id(task_id), actor=actor)
        return Decision(task_id, state, "cancelled", self._release(task_id))

    def _release(self, task_id: str) -> tuple[str, ...]:
        """After a decision: the task's review worktree goes, unless it has work in it (then: why kept)."""
        kept = checkouts.release(Repo(self.config.repo), self.config.state_dir, task_id, self.branch(task_id))
        return (kept,) if kept else ()

    def import_plan(self, path: str | Path, *, dry_run: bool = False, role: str | None = None,
                    prefix: str | None = None, sequential: bool = False) -> ImportReport:
        """A Markdown plan into tasks, or, imported before, its tasks synced to the edited plan
        (docs/IMPORT.md). Raises UsageError when it cannot be imported (nothing is changed then)."""
        report = importer.import_plan(self.config, Path(path), importer.ImportOptions(
            dry_run=dry_run, role=role, prefix=prefix, sequential=sequential))
        if not dry_run:
            poke(self.config.state_dir)
        return report

    # ---- looking at a branch ------------------------------------------------------------

    def diff(self, task_id: str, *, stat: bool = False) -> TaskDiff:
        """What the task's branch changes against where it left the base branch (its merge base), as text."""
        return checkouts.diff(self.config, self.queue, taskfmt.check_id(task_id), stat=stat)

    def page_diff(self, task_id: str, *, stat: bool = False) -> int:
        """The same diff shown on this process's terminal by git (its pager and colours); git's exit code."""
        return checkouts.page_diff(self.config, self.queue, taskfmt.check_id(task_id), stat=stat)

    def checkout(self, task_id: str) -> ReviewCheckout:
        """A worktree of the task's branch to look at and run, kept until the task is decided or pruned."""
        return checkouts.checkout(self.config, self.queue, taskfmt.check_id(task_id))

    def prune(self, *, dry_run: bool = False, actor: str = "person") -> PruneReport:
        """Delete finished tasks' branches that hold no commit of their own, and their clean review worktrees."""
        return checkouts.prune(self.config, self.queue, dry_run=dry_run, actor=actor)

    def pause(self, agent: str | None = None, *, actor: str = "person") -> str:
        """No new work for one agent, or for all (running attempts finish)."""
        return control.pause(self.config, agent, actor=actor)

    def resume(self, agent: str | None = None) -> str:
        said = control.resume(self.config, agent)
        poke(self.config.state_dir)
        return said

    # ---- running ----------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> TickReport:
        """One tick: reconcile, release, dispatch. Runners start detached; this returns at once."""
        return self._scheduler_for_ticks().tick(now)

    def drain(self, timeout: float | None = None) -> bool:
        """Tick until nothing runs and nothing runnable waits; False when timeout came first."""
        return drain(self._scheduler_for_ticks(), timeout) == 0

    def close(self) -> None:
        """Let go of the fork server a drain keeps (running agents are not touched)."""
        if self._scheduler is not None:
            self._scheduler.close()
            self._scheduler = None

    def __enter__(self) -> Orchestrator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _scheduler_for_ticks(self) -> Scheduler:
        if self._scheduler is None:
            self._scheduler = Scheduler(self.config, long_lived=True)
        return self._scheduler


def _task_record(row: dict[str, Any]) -> TaskRecord:
    return from_record(TaskRecord, row)
