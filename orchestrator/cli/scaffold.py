"""`init`: a new project's agents.yaml, queue directories and .gitignore entry."""

from __future__ import annotations

from pathlib import Path

from orchestrator.base.errors import GitError, UsageError
from orchestrator.formats.presets import PRESETS
from orchestrator.git.repo import Repo
from orchestrator.store.queue import STATES

TEMPLATE = """\
# orchestrator configuration. Paths are relative to this file.
repo: .                  # the git repository the agents work on
base_branch: {base}
queue_dir: queue
state_dir: .orchestrator # runs, logs, worktrees, locks, event journal
tick_seconds: 60
max_running: 4           # at most this many attempts at once
max_attempts: 3
retry_backoff_seconds: 10
review: human            # human | agent | none
auto_commit: true        # commit what an agent leaves uncommitted
branch_prefix: agent/
agents:
  - name: impl-1
    role: implement
    # An argument list; placeholders: {{task_id}} {{title}} {{prompt_file}} {{worktree}} {{branch}} {{attempt}} {{agent}}
    command: ["sh", "-c", "echo 'replace this command with your agent' >&2; exit 1"]
    max_concurrent: 1
    timeout_seconds: 3600
"""


PRESET_AGENT = """\
  - name: {preset}-1
    preset: {preset}       # the tool's non-interactive command line; override any key here
    max_concurrent: 1
    timeout_seconds: 3600
"""


def init(directory: Path, preset: str | None = None) -> str:
    directory = directory.absolute()
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "agents.yaml"
    if config.exists():
        raise UsageError(f"{config} already exists; edit it, or init another directory")
    base = _current_branch(directory) or "main"
    text = TEMPLATE.format(base=base)
    if preset:
        if preset not in PRESETS:
            raise UsageError(f"--agent {preset}: no such preset (choose from {', '.join(PRESETS)})")
        text = text[: text.index("  - name: impl-1")] + PRESET_AGENT.format(preset=preset)
    config.write_text(text)
    for state in STATES:
        (directory / "queue" / state).mkdir(parents=True, exist_ok=True)
        (directory / "queue" / state / ".gitkeep").touch()
    ignore = directory / ".gitignore"
    lines = ignore.read_text().splitlines() if ignore.exists() else []
    if ".orchestrator/" not in lines:
        ignore.write_text("\n".join(lines + [".orchestrator/"]) + "\n")
    return f"wrote {config}, {directory / 'queue'}/ and a .gitignore entry for .orchestrator/"


def _current_branch(directory: Path) -> str | None:
    try:
        return Repo(directory).current_branch()
    except GitError:
        return None  # not a repository (yet): the template says main
