"""`init`: a new project's agents.yaml and its queue and state directories."""

from __future__ import annotations

from pathlib import Path

from orchestrator.base import durable
from orchestrator.base.errors import GitError, UsageError
from orchestrator.formats import config as configmod
from orchestrator.formats.layout import git_common_dir
from orchestrator.formats.presets import PRESETS
from orchestrator.git.repo import Repo
from orchestrator.store.queue import Queue

TEMPLATE = """\
# orchestrator configuration. Paths are relative to this file.
repo: .                  # the git repository the agents work on
base_branch: {base}
# Queue and state live in the repository's .git directory, where git stash -u, git clean -fdx,
# git checkout . and git reset --hard never reach them. Drop task files into <queue_dir>/incoming/.
queue_dir: "{{git_common_dir}}/orchestrator/queue"
state_dir: "{{git_common_dir}}/orchestrator/state"   # runs, logs, worktrees, locks, event journal
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
    command: ["sh", "-c", "echo '{placeholder}' >&2; exit 1"]
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
    """Write agents.yaml (unless there is one: it is kept) and make the queue and state directories.

    Re-runnable and atomic: agents.yaml appears whole or not at all (a temporary file renamed into
    place), nothing in the user's working tree is rewritten (no .gitignore edit: the default queue
    and state live in .git), and a second run finishes what a killed first one started."""
    directory = directory.absolute()
    if git_common_dir(directory) is None:
        raise UsageError(f"{directory} is not inside a git repository: run 'git init' there first "
                         "(or give init the repository's directory)")
    if preset and preset not in PRESETS:
        raise UsageError(f"--agent {preset}: no such preset (choose from {', '.join(PRESETS)})")
    config_path = directory / "agents.yaml"
    text = TEMPLATE.format(base=_current_branch(directory) or "main", placeholder=configmod.INIT_PLACEHOLDER)
    if preset:
        text = text[: text.index("  - name: impl-1")] + PRESET_AGENT.format(preset=preset)
    kept = not durable.publish_new(config_path, text)
    if kept and preset and config_path.read_text(errors="replace") != text:
        raise UsageError(f"{config_path} already exists: add the {preset} agent to it by hand "
                         f"(docs/presets/{preset}.md shows the entry), or init another directory")
    cfg = configmod.load(config_path)  # what the file says, the same way every command reads it
    Queue(cfg.queue_dir, cfg.state_dir).ensure_dirs()
    said = f"kept the existing {config_path}" if kept else f"wrote {config_path}"
    return f"{said}\nqueue: {cfg.queue_dir}/  (drop task files into incoming/)\nstate: {cfg.state_dir}/"


def _current_branch(directory: Path) -> str | None:
    try:
        return Repo(directory).current_branch()
    except GitError:
        return None  # not a repository (yet): the template says main
