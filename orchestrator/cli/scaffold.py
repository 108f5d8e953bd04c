"""`init`: a new project's agents.yaml and its queue and state directories."""

from __future__ import annotations

import shlex
from pathlib import Path

from orchestrator.base import durable
from orchestrator.base.errors import GitError, UsageError
from orchestrator.formats import config as configmod
from orchestrator.formats.layout import git_common_dir
from orchestrator.formats.presets import PRESETS
from orchestrator.git.repo import Repo
from orchestrator.store.backend import open_queue

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
merge: accept            # accept: 'accept ID --merge' merges at once | queue: the merge queue lands accepted
                         # branches on base_branch only after `check` passed on the merged result
# check: ["python", "-m", "pytest", "-q"]   # the project's tests, for the merge queue
auto_commit: true        # commit what an agent leaves uncommitted
branch_prefix: agent/
{setup}agents:
  - name: impl-1
    role: implement
    # An argument list; placeholders: {{task_id}} {{title}} {{prompt_file}} {{worktree}} {{branch}} {{attempt}} {{agent}}
    command: ["sh", "-c", "echo '{placeholder}' >&2; exit 1"]
    max_concurrent: 1
    timeout_seconds: 3600
"""


# What a new worktree of a project of this kind needs before an agent can run its code there, by the
# file that tells the kind (first match wins). Without it an agent runs the tests against whatever
# the system has installed, not the worktree's code. A .venv made in the worktree is on the agent's PATH.
PROJECT_SETUPS: tuple[tuple[str, str, list[str]], ...] = (
    ("uv.lock", "a Python project managed by uv", ["uv", "sync", "--quiet"]),
    ("poetry.lock", "a Python project managed by Poetry", ["sh", "-c", "POETRY_VIRTUALENVS_IN_PROJECT=true poetry install -q"]),
    ("pyproject.toml", "a Python project", ["sh", "-c", "python3 -m venv .venv && .venv/bin/pip install -q -e ."]),
    ("setup.py", "a Python project", ["sh", "-c", "python3 -m venv .venv && .venv/bin/pip install -q -e ."]),
    ("pnpm-lock.yaml", "a Node project using pnpm", ["pnpm", "install", "--frozen-lockfile"]),
    ("yarn.lock", "a Node project using Yarn", ["yarn", "install", "--frozen-lockfile"]),
    ("package-lock.json", "a Node project using npm", ["npm", "ci"]),
    ("package.json", "a Node project", ["npm", "install"]),
    ("go.mod", "a Go module", ["go", "mod", "download"]),
)


def project_setup(directory: Path) -> tuple[str, str, list[str]] | None:
    """(the file that tells, what kind of project, the setup command) for the project at directory."""
    return next((entry for entry in PROJECT_SETUPS if (directory / entry[0]).is_file()), None)


def _setup_lines(found: tuple[str, str, list[str]] | None) -> str:
    if found is None:
        return ("# setup: [\"sh\", \"-c\", \"...\"]   # run in each new worktree before the agent (install what the\n"
                "#                                project needs there; a .venv made there is on the agent's PATH)\n")
    marker, kind, command = found
    quoted = ", ".join(f'"{arg}"' for arg in command)
    return (f"# {marker}: {kind}. Each new worktree gets its own environment before the agent runs, so\n"
            "# the agent tests the worktree's code (a .venv made there is on the agent's PATH). Remove it\n"
            "# if your agents need none; never copy a virtualenv in with copy_files (it points at the main checkout).\n"
            f"setup: [{quoted}]\n"
            "setup_timeout_seconds: 600\n")


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
    found = project_setup(_top(directory))
    text = TEMPLATE.format(base=_current_branch(directory) or "main", placeholder=configmod.INIT_PLACEHOLDER,
                           setup=_setup_lines(found))
    if preset:
        text = text[: text.index("  - name: impl-1")] + PRESET_AGENT.format(preset=preset)
    kept = not durable.publish_new(config_path, text)
    if kept and preset and config_path.read_text(errors="replace") != text:
        raise UsageError(f"{config_path} already exists: add the {preset} agent to it by hand "
                         f"(docs/presets/{preset}.md shows the entry), or init another directory")
    cfg = configmod.load(config_path)  # what the file says, the same way every command reads it
    open_queue(cfg).ensure_dirs()
    said = f"kept the existing {config_path}" if kept else f"wrote {config_path}"
    if found and not kept:
        said += f"\n{found[0]}: {found[1]}; each worktree is set up with: {shlex.join(found[2])} (see 'setup' in it)"
    return f"{said}\nqueue: {cfg.queue_dir}/  (drop task files into incoming/)\nstate: {cfg.state_dir}/"


def _top(directory: Path) -> Path:
    try:
        return Path(Repo(directory).git("rev-parse", "--show-toplevel").strip())
    except GitError:
        return directory


def _current_branch(directory: Path) -> str | None:
    try:
        return Repo(directory).current_branch()
    except GitError:
        return None  # not a repository (yet): the template says main
