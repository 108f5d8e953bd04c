"""Per-agent runtime state that outlives a process: last start, pauses and why.

One small JSON file in the state directory. Ticks, runners and person commands all
change it, so every change is a read-modify-write under its own lock (update()).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from orchestrator.base import durable
from orchestrator.base.clock import iso, parse_iso
from orchestrator.base.locks import FileLock
from orchestrator.formats.layout import StateDir

USAGE_LIMIT_REASON = "usage limit reached"  # the paused_reason of a usage-limit rest (settle.rest_agent)


@dataclass
class AgentState:
    last_start: str | None = None
    paused_reason: str | None = None  # set by a person or the circuit breaker; None when running
    paused_until: str | None = None  # a cooldown that ends by itself
    start_failures: int = 0  # consecutive attempts that failed before the agent ran
    needs_person: bool = False  # the pause waits for a person (a spent budget, a command that cannot start)
    spent_day: str | None = None  # the UTC day spent_usd counts (YYYY-MM-DD)
    spent_usd: float = 0.0  # what its CLI reported its attempts cost on spent_day
    limit_provider: str | None = None  # the provider whose usage limit paused_until waits out (rests its peers)


class AgentBook:
    def __init__(self, state_dir: Path):
        self.path = StateDir(state_dir).agents
        self.lock_path = StateDir(state_dir).agents_lock
        self.agents: dict[str, AgentState] = {}
        self._rests: dict[str, tuple[str, str]] = {}  # provider -> (latest paused_until, the agent that hit it)
        self._mtime = None
        self.reload()

    def reload(self) -> None:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            self.agents, self._rests, self._mtime = {}, {}, None
            return
        if mtime == self._mtime:
            return
        try:
            data = json.loads(self.path.read_text())
            self.agents = {name: AgentState(**{k: v for k, v in rec.items() if k in AgentState.__dataclass_fields__})
                           for name, rec in data.items()}
        except (ValueError, TypeError, AttributeError):
            self.agents = {}
        self._index_rests()
        self._mtime = mtime

    def get(self, name: str) -> AgentState:
        return self.agents.setdefault(name, AgentState())

    def update(self, name: str, change: Callable[[AgentState], None]) -> AgentState:
        """Apply change to one agent's state and save, reading the file fresh under the lock."""
        with FileLock(self.lock_path):
            self._mtime = None
            self.reload()
            state = self.get(name)
            change(state)
            self._index_rests()
            durable.write_atomic(self.path, json.dumps({n: asdict(s) for n, s in self.agents.items()}, indent=1))
            self._mtime = self.path.stat().st_mtime_ns
        return state

    def last_start(self, name: str) -> datetime | None:
        return parse_iso(self.get(name).last_start)

    def paused(self, name: str, now: datetime, provider: str | None = None) -> str | None:
        """Why the agent takes no work now, or None: its own pause or cooldown, or else a usage
        limit that another agent of the same provider hit."""
        state = self.get(name)
        until = parse_iso(state.paused_until)
        if until and until > now:
            return f"cooling down until {iso(until)}" + (f": {state.paused_reason}" if state.paused_reason else "")
        if state.paused_reason and not until:
            return state.paused_reason
        return self._provider_rest(name, provider, now)

    def _index_rests(self) -> None:
        """Each provider's latest usage-limit rest, worked out once per read of the file: paused()
        runs for every agent and task a tick looks at."""
        self._rests = {}
        for name, state in self.agents.items():
            if state.limit_provider and state.paused_until:
                self._rests[state.limit_provider] = max(self._rests.get(state.limit_provider, ("", "")),
                                                        (state.paused_until, name))

    def _provider_rest(self, name: str, provider: str | None, now: datetime) -> str | None:
        # The latest rest of the provider; when it is this agent's own, its own paused_until said so first.
        rest = self._rests.get(provider) if provider else None
        until = parse_iso(rest[0]) if rest else None
        if rest is None or until is None or until <= now or rest[1] == name:
            return None
        return f"cooling down until {iso(until)}: usage limit of provider {provider} (reached by {rest[1]})"

    def lift_provider_rest(self, provider: str) -> None:
        """A person resumed an agent of this provider: its peers' usage-limit rests end too."""
        for other in [n for n, s in self.agents.items() if s.limit_provider == provider]:
            self.update(other, _end_limit_rest)


def _end_limit_rest(state: AgentState) -> None:
    """The usage-limit rest ends; a pause a person made since stays."""
    if state.limit_provider is not None:
        state.paused_until, state.limit_provider = None, None
        if state.paused_reason == USAGE_LIMIT_REASON:
            state.paused_reason = None
