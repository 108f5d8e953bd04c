"""agents.yaml: parsed once into frozen records, every default declared once, precise errors.

Found by --config FILE, else $ORCHESTRATOR_CONFIG, else ./agents.yaml. Paths inside are
relative to the file's own directory, never to the current directory.
"""

from __future__ import annotations

import os
import re
import shlex
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.tick import notify
from orchestrator.formats import presets
from orchestrator.base.errors import ConfigError
from orchestrator.formats.presets import PRESETS
from orchestrator.formats.schema import Field, Located, SchemaError, load_yaml, parse_fields
from orchestrator.formats.task import id_problem

CONFIG_ENV = "ORCHESTRATOR_CONFIG"
DEFAULT_CONFIG_NAME = "agents.yaml"
REVIEW_MODES = ("human", "agent", "none")
REVIEW_ROLE = "review"  # agents of this role review provisional tasks when review: agent
BREAKDOWN_ROLE = "breakdown"  # agents of this role split a task into subtasks through the outbox
PLACEHOLDERS = ("task_id", "title", "prompt_file", "worktree", "branch", "attempt", "agent")
DAY = 86_400


def _check_name(value: str) -> str | None:
    problem = id_problem(value)
    return problem.replace("task id", "agent name") if problem else None


def _check_branch_prefix(value: str) -> str | None:
    if any(c in value for c in " ~^:?*[\\") or ".." in value or value.startswith(("/", "-")):
        return f"branch_prefix {value!r} is not usable in a git branch name"
    return None


SETTINGS_FIELDS = [
    Field("repo", "str", default="."),
    Field("base_branch", "str", default="main"),
    Field("queue_dir", "str", default="queue"),
    Field("state_dir", "str", default=".orchestrator"),
    Field("tick_seconds", "float", default=60.0, minimum=0.05, maximum=DAY),
    Field("max_running", "int", default=4, minimum=1, maximum=1000),
    Field("max_attempts", "int", default=3, minimum=1, maximum=100),
    Field("retry_backoff_seconds", "float", default=10.0, minimum=0, maximum=DAY),
    Field("review", "str", default="human", choices=REVIEW_MODES),
    Field("auto_commit", "bool", default=True),
    Field("branch_prefix", "str", default="agent/", check=_check_branch_prefix),
    Field("kill_grace_seconds", "float", default=5.0, minimum=0, maximum=600),
    Field("merge_on_accept", "bool", default=False),
    Field("max_rejections", "int", default=3, minimum=1, maximum=100),
    Field("max_breakdown_depth", "int", default=2, minimum=0, maximum=10),
    Field("worktree_pool", "int", default=0, minimum=0, maximum=100,
          help="keep this many prepared worktrees for reuse (large repositories)"),
    Field("fork_runners", "bool", default=True,
          help="the daemon forks runners from a preloaded process (each starts ~150 ms sooner, ~100 ms less CPU)"),
    Field("notify", "any", default=(), help="commands run on events: a list of {command, events} or {desktop: true}"),
    Field("port_base", "int", default=20000, minimum=1024, maximum=65000),
    Field("port_block_size", "int", default=10, minimum=1, maximum=1000),
    Field("agents", "any", required=True, help="a list of agents, each with name, role and command"),
]

# Keys that may be set for all agents at the top level and overridden per agent. The top-level
# Field holds the one default; an agent that does not set the key inherits the top-level value.
INHERITED_FIELDS = [
    Field("copy_files", "strlist", default=(), help="gitignored files copied from the main checkout"),
    Field("setup", "command", help="run in a new worktree before the agent"),
    Field("setup_timeout_seconds", "float", default=600.0, minimum=1, maximum=DAY),
    Field("teardown", "command", help="run in the worktree before it is removed"),
    Field("env_passthrough", "strlist", default=(), help="variables kept from the daemon's environment"),
    Field("usage_limit_exit_codes", "intlist", default=(75,)),
    Field("usage_limit_patterns", "strlist", default=("usage limit",)),
    Field("usage_limit_cooldown_seconds", "float", default=1800.0, minimum=1, maximum=7 * DAY),
    Field("memory_limit_mb", "int", minimum=16, maximum=1_000_000),
    Field("cpu_limit_seconds", "float", minimum=1, maximum=30 * DAY),
]
SETTINGS_FIELDS += INHERITED_FIELDS

AGENT_FIELDS = [
    Field("name", "str", required=True, check=_check_name),
    Field("role", "str", default="implement"),
    Field("preset", "str", choices=tuple(PRESETS), help="a known agent tool: its command line and defaults"),
    Field("command", "any"),
    Field("max_concurrent", "int", default=1, minimum=1, maximum=1000),
    Field("timeout_seconds", "float", default=3600.0, minimum=1, maximum=7 * DAY),
    Field("interval_seconds", "float", default=0.0, minimum=0, maximum=DAY),
    Field("env", "strmap", default={}),
    Field("paused", "bool", default=False),
] + [Field(f.name, f.kind, default=None, minimum=f.minimum, maximum=f.maximum, help=f.help) for f in INHERITED_FIELDS]


@dataclass(frozen=True, kw_only=True)
class AgentConfig:
    """Every field is filled by parse(); the defaults live in AGENT_FIELDS and INHERITED_FIELDS only."""

    name: str
    role: str
    command: tuple[str, ...]
    max_concurrent: int
    timeout_seconds: float
    interval_seconds: float
    env: Mapping[str, str]
    paused: bool
    copy_files: tuple[str, ...]
    setup: tuple[str, ...] | None
    setup_timeout_seconds: float
    teardown: tuple[str, ...] | None
    env_passthrough: tuple[str, ...]
    usage_limit_exit_codes: tuple[int, ...]
    usage_limit_patterns: tuple[str, ...]
    usage_limit_cooldown_seconds: float
    memory_limit_mb: int | None
    cpu_limit_seconds: float | None


@dataclass(frozen=True)
class Config:
    path: Path
    repo: Path
    base_branch: str
    queue_dir: Path
    state_dir: Path
    tick_seconds: float
    max_running: int
    max_attempts: int
    retry_backoff_seconds: float
    review: str
    auto_commit: bool
    branch_prefix: str
    kill_grace_seconds: float
    merge_on_accept: bool
    max_rejections: int
    max_breakdown_depth: int
    worktree_pool: int
    fork_runners: bool
    notify: tuple
    port_base: int
    port_block_size: int
    agents: tuple[AgentConfig, ...] = field(default=())
    problem: str | None = None  # set only on the stand-in that observers use when the file is invalid

    def agent(self, name: str) -> AgentConfig | None:
        return next((a for a in self.agents if a.name == name), None)


def find_config_path(arg: str | None, environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path:
    environ = os.environ if environ is None else environ
    chosen = arg or environ.get(CONFIG_ENV) or DEFAULT_CONFIG_NAME
    path = Path(chosen)
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    return path


def load(path: str | Path) -> Config:
    """Read and check agents.yaml; raise ConfigError with file, line, key and fix."""
    path = Path(path).absolute()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file (create one with "
                          f"'python -m orchestrator init', or pass --config FILE)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 at byte {exc.start} (save the file as UTF-8)") from None
    try:
        return parse(text, path)
    except SchemaError as exc:
        raise ConfigError(exc.render()) from None


def stand_in(path: str | Path, problem: str) -> Config:
    """For read-only commands when agents.yaml is invalid: the paths we can still read, defaults
    for the rest, no agents, and the problem, so `status` can say what is wrong."""
    path = Path(path).absolute()
    inherited = {f.name for f in INHERITED_FIELDS}
    values = {f.name: f.default for f in SETTINGS_FIELDS if f.name != "agents" and f.name not in inherited}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for key in ("repo", "queue_dir", "state_dir"):
        match = re.search(rf"^{key}:\s*['\"]?([^'\"#\n]+?)['\"]?\s*(?:#.*)?$", text, re.MULTILINE)
        if match:
            values[key] = match.group(1)
        values[key] = (path.parent / values[key]).resolve()
    return Config(path=path, problem=problem, **values)


def parse(text: str, path: Path) -> Config:
    data, lines = load_yaml(text, str(path))
    where = Located(str(path), lines)
    values = parse_fields(data, SETTINGS_FIELDS, where, "agents.yaml")
    for key in ("setup", "teardown"):
        if values[key] is not None:
            values[key] = _parse_command(values[key], where, key, placeholders=False)
    values["notify"] = _parse_notify(values["notify"], where)
    agents = _parse_agents(values.pop("agents"), where, values)
    for f in INHERITED_FIELDS:  # top-level values only seed the agents; each agent carries its own
        values.pop(f.name)
    root = path.parent
    for key in ("repo", "queue_dir", "state_dir"):
        values[key] = (root / values[key]).resolve()
    return Config(path=path, agents=agents, **values)


def _parse_agents(data: Any, where: Located, settings: dict) -> tuple[AgentConfig, ...]:
    if not isinstance(data, list):
        raise SchemaError(where.at("agents"), "'agents' must be a list of agents",
                          "write each agent as a '- name: ...' item")
    agents: list[AgentConfig] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(data):
        here = where.child("agents", index)
        values = parse_fields(item, AGENT_FIELDS, here, f"agent #{index + 1}")
        preset = values.pop("preset")
        if preset:
            values = presets.expand(preset, values)
        if values.get("command") is None:
            raise SchemaError(here.at(), f"agent #{index + 1} has neither a 'command' nor a 'preset'",
                              f"add 'command: [...]' or 'preset: <{' | '.join(PRESETS)}>'")
        name = values["name"]
        if name in seen:
            raise SchemaError(here.at("name"), f"duplicate agent name '{name}' (also agent #{seen[name] + 1})",
                              "give every agent its own name")
        seen[name] = index
        values["command"] = _parse_command(values["command"], here)
        for key in ("setup", "teardown"):
            if values[key] is not None:
                values[key] = _parse_command(values[key], here, key, placeholders=False)
        for f in INHERITED_FIELDS:
            if values[f.name] is None:
                values[f.name] = settings[f.name]
        agents.append(AgentConfig(**values))
    return tuple(agents)


NOTIFY_FIELDS = [
    Field("command", "any"),
    Field("desktop", "bool", default=False),
    Field("events", "strlist", default=None, check=lambda v: next(
        (f"unknown event '{e}' (known: {', '.join(notify.KINDS)})" for e in v if e not in notify.KINDS), None)),
]


def _parse_notify(data: Any, where: Located) -> tuple:
    if not data:
        return ()
    if not isinstance(data, list):
        raise SchemaError(where.at("notify"), "'notify' must be a list", "write each notifier as a '- command: [...]' item")
    notifiers = []
    for index, item in enumerate(data):
        here = where.child("notify", index)
        values = parse_fields(item, NOTIFY_FIELDS, here, f"notifier #{index + 1}")
        if values["command"] is None and not values["desktop"]:
            raise SchemaError(here.at(), f"notifier #{index + 1} has neither a 'command' nor 'desktop: true'",
                              "add one of them")
        command = _parse_command(values["command"], here, placeholders=False) if values["command"] else None
        notifiers.append(notify.Notifier(command=command, desktop=values["desktop"],
                                         events=values["events"] or notify.KINDS))
    return tuple(notifiers)


def _parse_command(value: Any, where: Located, key: str = "command", placeholders: bool = True) -> tuple[str, ...]:
    if isinstance(value, str):
        try:
            argv = shlex.split(value)
        except ValueError as exc:
            raise SchemaError(where.at(key), f"cannot split the command: {exc}", "balance the quotes") from None
    elif isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool)
                                                  for v in value):
        argv = [str(v) for v in value]
    else:
        raise SchemaError(where.at(key), "must be a list of arguments or a string",
                          'write it as ["program", "arg", "{prompt_file}"]')
    if not argv or not argv[0]:
        raise SchemaError(where.at(key), "the command is empty", "name the program to run")
    if placeholders:
        for arg in argv:
            for name in _placeholders(arg, where):
                if name not in PLACEHOLDERS:
                    raise SchemaError(where.at(key), f"unknown placeholder '{{{name}}}' in {arg!r}",
                                      f"use one of {', '.join('{' + p + '}' for p in PLACEHOLDERS)}, "
                                      "or write '{{' for a brace")
    return tuple(argv)


def _placeholders(arg: str, where: Located) -> list[str]:
    try:
        return [name for _, name, _, _ in string.Formatter().parse(arg) if name is not None]
    except ValueError as exc:
        raise SchemaError(where.at("command"), f"bad braces in {arg!r}: {exc}", "write '{{' and '}}' for literal braces") from None


def agent_settings(agent: AgentConfig) -> dict:
    """The settings an agent inherits or overrides, by name (what a spec freezes for its runner)."""
    return {f.name: getattr(agent, f.name) for f in INHERITED_FIELDS}


def expand_command(command: tuple[str, ...], values: Mapping[str, str]) -> list[str]:
    """Substitute placeholders argument by argument: task text never meets a shell."""
    return [arg.format_map(values) for arg in command]
