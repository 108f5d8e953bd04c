"""Attempt records: one directory per task and attempt under <state_dir>/runs/.

    runs/<task id>/<n>/spec.json     what to run, written under the claim (before the rename)
                       runner.json   the runner process the tick started
                       owner.json    the runner that owns the attempt; created exactly once
                       agent.json    the agent's pid, process group and start time
                       result.json   the outcome, written before the task file moves
                       agent.log     the agent's stdout and stderr, never overwritten
                       prompt.md     what the agent was asked
                       agent-result.json, outbox/   what the agent may write back

owner.json is created with O_EXCL semantics: a runner that finds it taken exits, and the
reconciler takes it itself to fence off a runner that never started in time.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from orchestrator.base import durable
from orchestrator.base.records import as_record, from_record
from orchestrator.formats.layout import StateDir
from orchestrator.formats.settings import AgentSettings, ProjectSettings
from orchestrator.formats.task import check_id

_ATTEMPT_RE = re.compile(r"^[0-9]+$")


@dataclass(frozen=True, kw_only=True)
class Spec(AgentSettings):
    """Everything a runner needs, frozen at claim time: a config reload never changes a running attempt.

    The agent's settings (inherited fields), the project's settings (`project`), and what the
    claim decided; nothing is declared again here.
    """

    project: ProjectSettings
    task_id: str
    attempt: int
    token: str
    agent: str
    role: str
    title: str
    command: tuple[str, ...]
    env: dict[str, str]
    worktree: str
    branch: str
    max_attempts: int  # the task's own limit, or the configured one
    attempts_before: int  # counted attempts when claimed: settling sets attempts_before + 1, never += 1
    claimed_at: str
    claimed_by: dict  # the claiming process's identity (pid, started)
    phase: str  # work | review
    port_base: int  # this attempt's block of ports (ORCH_PORT_BASE)
    port_count: int
    sparse_paths: tuple[str, ...]
    feedback: tuple[str, ...]
    fence: int = 0  # the claim's fencing token (PostgreSQL): a move out of claimed/ with an older one is refused

    # The project's values that runners read most, by their old names.
    repo = property(lambda self: str(self.project.repo))
    base_branch = property(lambda self: self.project.base_branch)
    queue_dir = property(lambda self: str(self.project.queue_dir))
    state_dir = property(lambda self: str(self.project.state_dir))


@dataclass(frozen=True)
class Result:
    outcome: str  # success | failed | no_commits | timeout | start_failed | runner_died | abandoned | blocked
    reason: str
    finished_at: str
    exit_code: int | None = None
    commits: int = 0
    counts: bool = True  # does this attempt use up one of max_attempts?
    kept_worktree: str | None = None
    resume_at: str | None = None  # for usage_limit: when the agent may run again
    # What the agent's CLI reported it used (formats/usage.py); None where it said nothing.
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    model: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.outcome == "success"


class Attempt:
    def __init__(self, directory: Path, task_id: str, number: int):
        self.dir = directory
        self.task_id = task_id
        self.number = number

    spec_path = property(lambda self: self.dir / "spec.json")
    owner_path = property(lambda self: self.dir / "owner.json")
    agent_path = property(lambda self: self.dir / "agent.json")
    result_path = property(lambda self: self.dir / "result.json")
    log_path = property(lambda self: self.dir / "agent.log")
    prompt_path = property(lambda self: self.dir / "prompt.md")
    agent_result_path = property(lambda self: self.dir / "agent-result.json")
    outbox = property(lambda self: self.dir / "outbox")
    diff_path = property(lambda self: self.dir / "diff.patch")
    setup_log_path = property(lambda self: self.dir / "setup.log")
    # What an earlier attempt left uncommitted in the worktree this one reused (set aside, not handed on).
    leftover_path = property(lambda self: self.dir / "leftover.patch")

    def spec(self) -> Spec | None:
        """The attempt's spec, or None when there is none or it was written by an older version."""
        record = durable.read_json(self.spec_path)
        try:
            return from_record(Spec, record) if record else None
        except TypeError:
            return None

    def write_spec(self, spec: Spec) -> None:
        # The spec holds the agent's env (API keys, perhaps): readable by its owner only.
        durable.write_json_atomic(self.spec_path, as_record(spec), mode=0o600)

    def owner(self) -> dict | None:
        return durable.read_json(self.owner_path)

    def take_ownership(self, record: dict) -> bool:
        return durable.create_json_exclusive(self.owner_path, record)

    def result(self) -> Result | None:
        record = durable.read_json(self.result_path)
        if not record:
            return None
        return from_record(Result, record)

    def write_result(self, result: Result) -> None:
        durable.write_json_atomic(self.result_path, as_record(result))

    def launch_record(self) -> dict | None:
        """The runner process the tick started (written right after the spawn), or None."""
        return durable.read_json(self.dir / "runner.json")

    def write_launch_record(self, identity: dict) -> None:
        # No fsync: after a power loss no process of this attempt is alive anyway.
        durable.write_cache(self.dir / "runner.json", json.dumps(identity))

    def agent_record(self) -> dict | None:
        return durable.read_json(self.agent_path)


class Runs:
    def __init__(self, state_dir: Path):
        self.root = StateDir(state_dir).runs

    def task_dir(self, task_id: str) -> Path:
        return self.root / check_id(task_id)

    def new_attempt(self, task_id: str) -> Attempt:
        """Create the next attempt directory; mkdir is exclusive, so two claimers never share one."""
        base = self.task_dir(task_id)
        base.mkdir(parents=True, exist_ok=True)
        number = self._highest(base) + 1
        while True:
            try:
                os.mkdir(base / str(number))
            except FileExistsError:
                number += 1
                continue
            durable.fsync_dir(base)
            return Attempt(base / str(number), task_id, number)

    def attempts(self, task_id: str) -> list[Attempt]:
        base = self.task_dir(task_id)
        try:
            names = [n for n in os.listdir(base) if _ATTEMPT_RE.match(n)]
        except FileNotFoundError:
            return []
        return [Attempt(base / n, task_id, int(n)) for n in sorted(names, key=int)]

    def count(self, task_id: str) -> int:
        """Attempts started for the task (the directories are numbered from 1, one per attempt)."""
        return self._highest(self.task_dir(task_id))

    def latest(self, task_id: str) -> Attempt | None:
        base = self.task_dir(task_id)
        number = self._highest(base)
        return Attempt(base / str(number), task_id, number) if number else None

    def get(self, task_id: str, number: int) -> Attempt | None:
        path = self.task_dir(task_id) / str(number)
        return Attempt(path, task_id, number) if path.is_dir() else None

    @staticmethod
    def _highest(base: Path) -> int:
        try:
            return max((int(n) for n in os.listdir(base) if _ATTEMPT_RE.match(n)), default=0)
        except FileNotFoundError:
            return 0
