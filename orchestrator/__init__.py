"""orchestrator: keep several coding agents busy at once, one git worktree per task.

The public API is `Orchestrator` (orchestrator/api.py) and the records it returns:

    from orchestrator import Orchestrator
    with Orchestrator("agents.yaml") as orch:
        task = orch.enqueue("Fix the login redirect", priority="P1")
        orch.drain(timeout=600)
        orch.accept(task.id, merge=True)

The names are loaded on first use (PEP 562): a runner process starts as
`python -m orchestrator.runner`, which imports this package, and must not pay for the whole API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "AttemptRecord", "ConfigError", "Decision", "GitError", "NotFoundError", "Orchestrator",
    "OrchestratorError", "PruneItem", "PruneReport", "ReviewCheckout", "StateError", "TaskDetail", "TaskDiff",
    "TaskRecord", "UsageError", "__version__",
]

_API = {"Orchestrator", "TaskRecord", "TaskDetail", "AttemptRecord", "Decision", "TaskDiff", "ReviewCheckout",
        "PruneItem", "PruneReport"}
_ERRORS = {"OrchestratorError", "ConfigError", "GitError", "NotFoundError", "StateError", "UsageError"}

if TYPE_CHECKING:
    from orchestrator.api import (
        AttemptRecord,
        Decision,
        Orchestrator,
        PruneItem,
        PruneReport,
        ReviewCheckout,
        TaskDetail,
        TaskDiff,
        TaskRecord,
    )
    from orchestrator.base.errors import ConfigError, GitError, NotFoundError, OrchestratorError, StateError, UsageError


def __getattr__(name: str) -> Any:
    if name in _API:
        from orchestrator import api
        return getattr(api, name)
    if name in _ERRORS:
        from orchestrator.base import errors
        return getattr(errors, name)
    raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
