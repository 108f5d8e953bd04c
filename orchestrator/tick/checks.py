"""Checks before work starts: the repository, the agents' commands, every task file."""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.base.errors import ConfigError
from orchestrator.formats.config import REVIEW_ROLE, AgentConfig, Config, is_placeholder
from orchestrator.formats.layout import GIT_COMMON_DIR, git_common_dir
from orchestrator.git.repo import Repo
from orchestrator.process.agentenv import agent_environment, resolve_program
from orchestrator.store.backend import QueueBackend, open_queue
from orchestrator.store.records import STATES


def check_repository(cfg: Config) -> None:
    problem = Repo(cfg.repo).problem(cfg.base_branch)
    if problem:
        raise ConfigError(f"{cfg.path}: {problem}")


def command_problem(cfg: Config, agent: AgentConfig) -> str | None:
    """Why the agent's command cannot start, looked up on the PATH the agent will get; None if it can."""
    program = agent.command[0]
    if "/" in program:
        # Relative paths are looked up in the task's worktree, which is a checkout of the repo.
        candidate = Path(program) if Path(program).is_absolute() else cfg.repo / program
        return None if candidate.exists() else f"{program} does not exist (looked for {candidate})"
    env = agent_environment(os.environ, agent.env_passthrough, agent.env, {})
    if resolve_program(program, env):
        return None
    return (f"'{program}' is not on the agent's PATH ({env.get('PATH', '')}); install it there, give its "
            "full path in 'command', or set PATH in the agent's env")


def consumer_warnings(cfg: Config, queue: QueueBackend | None = None) -> list[str]:
    """States and roles that nobody consumes: tasks there would wait forever."""
    warnings = []
    roles = {a.role for a in cfg.agents}
    if cfg.review == "agent" and REVIEW_ROLE not in roles:
        warnings.append(f"{cfg.path}: review is 'agent' but no agent has role '{REVIEW_ROLE}', so finished tasks "
                        "would wait in provisional/ forever (add a reviewer, or set review: human)")
    queue = queue or open_queue(cfg)
    waiting: dict[str, int] = {}
    for state in ("incoming", "blocked"):
        for listed in queue.listing(state):
            task = listed.task
            if task is None:
                continue  # validate reports unreadable files on their own
            if task.agent is None and task.role not in roles:
                waiting[task.role] = waiting.get(task.role, 0) + 1
    for role, count in sorted(waiting.items()):
        warnings.append(f"{count} task(s) of role '{role}' wait, but no agent in {cfg.path} has that role")
    return warnings


def validate(cfg: Config) -> list[str]:
    """Every problem found, one line each; an empty list means all is well."""
    problems = []
    repo_problem = Repo(cfg.repo).problem(cfg.base_branch)
    if repo_problem:
        problems.append(f"{cfg.path}: {repo_problem}")
    for agent in cfg.agents:
        if is_placeholder(agent.command):
            problems.append(f"{cfg.path}: agent '{agent.name}': 'command' is still the placeholder that init wrote: "
                            "set it to your agent's command line, or use 'preset: claude-code' (or codex, gemini, "
                            "opencode, aider)")
            continue
        problem = command_problem(cfg, agent)
        if problem:
            problems.append(f"{cfg.path}: agent '{agent.name}': command {problem} (install it or fix 'command')")
    queue = open_queue(cfg)
    seen: dict[str, str] = {}
    roles = {a.role for a in cfg.agents}
    names = {a.name for a in cfg.agents}
    for state in STATES:
        for listed in queue.listing(state):
            task_id, where = listed.id, listed.location
            if task_id in seen:
                problems.append(f"{where}: duplicate id '{task_id}', also in {seen[task_id]}/ "
                                "(a task must be in one state only; remove one copy)")
            seen[task_id] = state
            task = listed.task
            if task is None:
                problems.append(str(listed.error))
                continue
            if state in ("incoming", "blocked") and not cfg.problem:  # (no agents known while it is invalid)
                if task.agent and task.agent not in names:
                    problems.append(f"{where}: pinned to agent '{task.agent}', which agents.yaml does not define")
                elif not task.agent and task.role not in roles:
                    problems.append(f"{where}: no agent has role '{task.role}', so this task would wait forever")
    if cfg.review == "agent" and REVIEW_ROLE not in roles:
        problems.extend(w for w in consumer_warnings(cfg, queue) if "review is 'agent'" in w)
    for name, reason in queue.invalid_files():
        problems.append(f"{queue.where}/invalid/{name}: quarantined: {reason}")
    return problems


def layout_warnings(cfg: Config) -> list[str]:
    """Queue or state inside the repository's working tree: routine git commands there delete them."""
    git_dir = git_common_dir(cfg.repo)
    warnings = []
    for key, path, holds in (("queue_dir", cfg.queue_dir, "every task"), ("state_dir", cfg.state_dir,
                                                                           "the runs, logs and journal")):
        inside_tree = path == cfg.repo or cfg.repo in path.parents
        inside_git = git_dir is not None and (path == git_dir or git_dir in path.parents)
        if inside_tree and not inside_git:
            name = key.removesuffix("_dir")
            warnings.append(f"{cfg.path}: {key} {path} is inside the working tree of {cfg.repo}: 'git stash -u' "
                            f"or 'git clean -fdx' there deletes {holds}; move it out (the default, "
                            f"\"{GIT_COMMON_DIR}/orchestrator/{name}\", keeps it in .git)")
    return warnings


def setup_warnings(cfg: Config) -> list[str]:
    """copy_files entries that are virtualenvs: a copy still runs the main checkout's code."""
    warnings = []
    for agent in cfg.agents:
        for entry in agent.copy_files:
            if (cfg.repo / entry / "pyvenv.cfg").is_file():
                warnings.append(
                    f"{cfg.path}: agent '{agent.name}': copy_files: {entry} is a virtualenv; a copy still points at "
                    f"{cfg.repo} (its editable installs and its scripts' #! lines), so agents would test the main "
                    "checkout's code, not the worktree's. Make one per worktree with setup instead, e.g. "
                    'setup: ["sh", "-c", "python3 -m venv .venv && .venv/bin/pip install -q -e ."] '
                    "(a .venv in the worktree is on the agent's PATH)")
    return warnings


def command_warnings(cfg: Config) -> list[str]:
    """Agents whose command cannot start (said at --once and daemon start; validate makes them errors)."""
    return [f"{cfg.path}: agent '{a.name}': command {problem} (it will be paused after 3 failed starts)"
            for a in cfg.agents if (problem := command_problem(cfg, a))]
