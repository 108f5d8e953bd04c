"""What the dashboard's buttons do: each POST is one call of the public facade, `Orchestrator`.

The dashboard owns no state change: the rules (which state a decision needs, what a reject does
with its reason, what enqueue checks) are the CLI's, in flow/ behind orchestrator.api. This module
only turns a JSON body into arguments and a result into a line for the page.

    POST /api/task/<id>/accept     {}                   accept, without landing the branch: done/
    POST /api/task/<id>/land       {}                   accept and land the branch on the base branch:
                                                        with `merge: queue`, to landing/ (the merge queue
                                                        lands it once the check passed); else merged now
    POST /api/task/<id>/reject     {"reason": "..."}    back for another attempt, the reason as feedback
    POST /api/task/<id>/retry      {}                   another round for a task in failed/ or blocked/
    POST /api/task/<id>/cancel     {}                   stop it (a running attempt is killed): failed/
    POST /api/pause                {"agent": name}      no new work for one agent (no agent: for all)
    POST /api/resume               {"agent": name}      undo pause (and an agent's automatic pause)
    POST /api/enqueue              {"title", "body", "priority", "role"}
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from orchestrator.api import Decision, Orchestrator
from orchestrator.base.errors import ConfigError, NotFoundError, UsageError

ACTOR = "person"  # a person clicked; the journal says the same as for the CLI


def land(orch: Orchestrator, task_id: str) -> Decision:
    """Accept and land, the way this project lands a branch: with `merge: queue` the task goes to landing/
    and the merge queue lands it (the tick starts one); otherwise it is merged now, as `accept --merge`
    does, and a conflict is refused on the page at once."""
    if orch.config.merge == "queue":
        return orch.accept(task_id, land=True, actor=ACTOR)
    return orch.accept(task_id, merge=True, land=False, actor=ACTOR)


TASK_ACTIONS: dict[str, tuple[frozenset[str], Callable[[Orchestrator, str, dict], Decision]]] = {
    "accept": (frozenset(), lambda orch, task_id, _: orch.accept(task_id, land=False, actor=ACTOR)),
    "land": (frozenset(), lambda orch, task_id, _: land(orch, task_id)),
    "reject": (frozenset({"reason"}), lambda orch, task_id, body: orch.reject(
        task_id, _text(body, "reason"), actor=ACTOR)),  # (the facade says what a blank reason lacks)
    "retry": (frozenset(), lambda orch, task_id, _: orch.retry(task_id, actor=ACTOR)),
    "cancel": (frozenset(), lambda orch, task_id, _: orch.cancel(task_id, actor=ACTOR)),
}
POST_PATHS = re.compile(r"/api/(task/[^/]+/[a-z]+|pause|resume|enqueue)")  # GET here is refused, never done


def act(orch: Orchestrator, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Do what the POST to `path` asks. Raises NotFoundError for a path that is no action, and the
    facade's own errors (StateError, UsageError, ...) as they come."""
    if match := re.fullmatch(r"/api/task/([^/]+)/([a-z]+)", path):
        task_id, name = match.groups()
        if name not in TASK_ACTIONS:
            raise NotFoundError(f"no action '{name}' (actions: {', '.join(TASK_ACTIONS)})")
        keys, call = TASK_ACTIONS[name]
        _only(body, keys)
        _config_ok(orch)
        decision = call(orch, task_id, body)
        return {"task_id": decision.task_id, "state": decision.state, "detail": decision.detail,
                "message": f"{decision.task_id}: {decision.state} ({decision.detail})"}
    if path in ("/api/pause", "/api/resume"):
        _only(body, frozenset({"agent"}))
        _config_ok(orch)
        agent = _text(body, "agent") or None
        said = orch.pause(agent, actor=ACTOR) if path == "/api/pause" else orch.resume(agent)
        return {"message": said}
    if path == "/api/enqueue":
        return enqueue(orch, body)
    raise NotFoundError(f"no action at {path}")


def enqueue(orch: Orchestrator, body: dict[str, Any]) -> dict[str, Any]:
    _only(body, frozenset({"title", "body", "priority", "role"}))
    task = orch.enqueue(_text(body, "title", required=True), _text(body, "body"),
                        priority=_text(body, "priority") or None, role=_text(body, "role") or None)
    message = f"queued {task.id} in {task.state}/"
    if orch.config.problem:
        message += f"; but {orch.config.path} is invalid: no agent takes it until the file is fixed"
    elif task.role not in {a.role for a in orch.config.agents}:
        message += f"; no agent has role '{task.role}': it waits until one does"
    return {"task_id": task.id, "state": task.state, "message": message}


def _config_ok(orch: Orchestrator) -> None:
    """As on the command line, only enqueue works while agents.yaml is invalid."""
    if orch.config.problem:
        raise ConfigError(f"{orch.config.problem} (only enqueue works until it is fixed)")


def _only(body: dict[str, Any], keys: frozenset[str]) -> None:
    unknown = sorted(set(body) - keys)
    if unknown:
        raise UsageError(f"unknown field(s) {', '.join(unknown)} (this action takes: {', '.join(sorted(keys)) or 'none'})")


def _text(body: dict[str, Any], key: str, *, required: bool = False) -> str:
    value = body.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise UsageError(f"'{key}' must be text")
    if required and not value.strip():
        raise UsageError(f"'{key}' is required")
    return value
