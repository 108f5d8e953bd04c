"""Checks before work starts: the repository, the agents' commands, every task file."""

from __future__ import annotations

import shutil
from pathlib import Path

from orchestrator.config import Config
from orchestrator.errors import ConfigError, TaskFileError
from orchestrator.git import Repo
from orchestrator.queue import STATES, SUFFIX, Queue


def check_repository(cfg: Config) -> None:
    problem = Repo(cfg.repo).problem(cfg.base_branch)
    if problem:
        raise ConfigError(f"{cfg.path}: {problem}")


def command_problem(cfg: Config, command: tuple[str, ...]) -> str | None:
    program = command[0]
    if "/" in program:
        # Relative paths are looked up in the task's worktree, which is a checkout of the repo.
        candidate = Path(program) if Path(program).is_absolute() else cfg.repo / program
        return None if candidate.exists() else f"{program} does not exist (looked for {candidate})"
    return None if shutil.which(program) else f"'{program}' is not on PATH"


def validate(cfg: Config) -> list[str]:
    """Every problem found, one line each; an empty list means all is well."""
    problems = []
    repo_problem = Repo(cfg.repo).problem(cfg.base_branch)
    if repo_problem:
        problems.append(f"{cfg.path}: {repo_problem}")
    for agent in cfg.agents:
        problem = command_problem(cfg, agent.command)
        if problem:
            problems.append(f"{cfg.path}: agent '{agent.name}': command {problem} (install it or fix 'command')")
    queue = Queue(cfg.queue_dir, cfg.state_dir)
    seen: dict[str, str] = {}
    roles = {a.role for a in cfg.agents}
    names = {a.name for a in cfg.agents}
    for state in STATES:
        for dirent in queue.names(state):
            task_id = dirent.name[: -len(SUFFIX)]
            if task_id in seen:
                problems.append(f"{dirent.path}: duplicate id '{task_id}', also in {seen[task_id]}/ "
                                "(a task must be in one state only; remove one copy)")
            seen[task_id] = state
            try:
                task = queue.read_file(Path(dirent.path))
            except (TaskFileError, OSError) as exc:
                problems.append(str(exc))
                continue
            if state in ("incoming", "blocked"):
                if task.agent and task.agent not in names:
                    problems.append(f"{dirent.path}: pinned to agent '{task.agent}', which agents.yaml does not define")
                elif not task.agent and task.role not in roles:
                    problems.append(f"{dirent.path}: no agent has role '{task.role}', so this task would wait forever")
    return problems
