"""orchestrator: keep several coding agents busy at once, one git worktree per task."""

__version__ = "0.1.0"
