"""agents.yaml: parsed once into frozen records, every default declared once, precise errors.

Found by --config FILE, else $ORCHESTRATOR_CONFIG, else ./agents.yaml. Paths inside are
relative to the file's own directory, never to the current directory.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.base.errors import ConfigError
from orchestrator.formats import presets
from orchestrator.formats.layout import GIT_COMMON_DIR, git_common_dir
from orchestrator.formats.presets import PRESETS
from orchestrator.formats.schema import Field, Located, SchemaError, load_yaml, parse_fields, raise_all
from orchestrator.formats.settings import (
    COMMAND_KEYS,
    MERGED_KEYS,
    PROJECT_COMMAND_KEYS,
    AgentIdentity,
    AgentSettings,
    ProjectSettings,
    schema_fields,
    values_of,
)
from orchestrator.formats.task import id_problem

CONFIG_ENV = "ORCHESTRATOR_CONFIG"
DEFAULT_CONFIG_NAME = "agents.yaml"
REVIEW_ROLE = "review"  # agents of this role review provisional tasks when review: agent
BREAKDOWN_ROLE = "breakdown"  # agents of this role split a task into subtasks through the outbox
PLACEHOLDERS = ("task_id", "title", "prompt", "prompt_file", "worktree", "branch", "attempt", "agent")
NOTIFY_KINDS = ("needs_review", "failed", "blocked", "agent_paused", "config_invalid")
PATH_KEYS = tuple(f.name for f in dataclasses.fields(ProjectSettings) if f.metadata["kind"] == "path")


def _check_name(value: str) -> str | None:
    problem = id_problem(value)
    return problem.replace("task id", "agent name") if problem else None


TOP_FIELDS = schema_fields(ProjectSettings) + schema_fields(AgentSettings) + [
    Field("notify", "any", default=(), help="commands run on events: a list of {command, events} or {desktop: true}"),
    Field("agents", "any", required=True, help="a list of agents, each with name, role and command"),
]
AGENT_FIELDS = [dataclasses.replace(f, check=_check_name) if f.name == "name" else f
                for f in schema_fields(AgentIdentity)] + [
    Field("preset", "str", choices=tuple(PRESETS), help="a known agent tool: its command line and defaults"),
] + schema_fields(AgentSettings, inherit=True)


@dataclass(frozen=True, kw_only=True)
class AgentConfig(AgentIdentity, AgentSettings):
    """One agent: who it is, and its settings with the top-level ones filled in where it set none."""

    @property
    def settings(self) -> AgentSettings:
        return AgentSettings(**values_of(self, AgentSettings))


@dataclass(frozen=True)
class Notifier:
    command: tuple[str, ...] | None
    desktop: bool
    events: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Config(ProjectSettings):
    path: Path
    agents: tuple[AgentConfig, ...] = ()
    notify: tuple[Notifier, ...] = ()
    problem: str | None = None  # set only on the stand-in that observers use when the file is invalid
    agent_defaults: AgentSettings = AgentSettings()  # the top level's agent settings (the merge queue's check uses them)

    def agent(self, name: str) -> AgentConfig | None:
        return next((a for a in self.agents if a.name == name), None)

    @property
    def project(self) -> ProjectSettings:
        return ProjectSettings(**values_of(self, ProjectSettings))

    def branch_of(self, task_id: str) -> str:
        """The one rule for a task's branch name."""
        return self.branch_prefix + task_id


def find_config_path(arg: str | None, environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path:
    """--config, else $ORCHESTRATOR_CONFIG, else agents.yaml here or in a directory above, up to the
    top of the git repository we are in (as git finds its own directory); else ./agents.yaml."""
    environ = os.environ if environ is None else environ
    here = cwd or Path.cwd()
    chosen = arg or environ.get(CONFIG_ENV)
    if chosen:
        path = Path(chosen)
        return path if path.is_absolute() else here / path
    for directory in (here, *here.parents):
        if (directory / DEFAULT_CONFIG_NAME).is_file():
            return directory / DEFAULT_CONFIG_NAME
        if (directory / ".git").exists():
            break  # the repository's top: a configuration above it belongs to something else
    return here / DEFAULT_CONFIG_NAME


def load(path: str | Path) -> Config:
    """Read and check agents.yaml; raise ConfigError with file, line, key and fix."""
    path = Path(path).absolute()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        common = git_common_dir(path.parent)
        top = common.parent if common is not None and common.name == ".git" else path.parent
        raise ConfigError(f"{path}: no such configuration file (create one with "
                          f"'python -m orchestrator init {top}', or pass --config FILE)") from None
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


# What the command `init` writes says, so that validate can tell it was never replaced.
INIT_PLACEHOLDER = "replace this command with your agent"


def is_placeholder(command: tuple[str, ...]) -> bool:
    return any(INIT_PLACEHOLDER in arg for arg in command)


def stand_in(path: str | Path, problem: str) -> Config:
    """For read-only commands when agents.yaml is invalid: the paths we can still read, defaults
    for the rest, no agents, and the problem, so `status` can say what is wrong."""
    path = Path(path).absolute()
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    values: dict[str, Any] = {}
    for key in PATH_KEYS:
        match = re.search(rf"^{key}:\s*['\"]?([^'\"#\n]+?)['\"]?\s*(?:#.*)?$", text, re.MULTILINE)
        values[key] = match.group(1) if match else ProjectSettings.__dataclass_fields__[key].default
    try:
        values.update(resolve_paths(path, values))
    except ConfigError:  # no repository to hold the state: show what there is, nothing more
        values.update({key: path.parent / key for key in PATH_KEYS})
    return Config(path=path, problem=problem, **values)


def resolve_paths(path: Path, values: dict[str, Any]) -> dict[str, Path]:
    """The path settings as absolute paths: relative to agents.yaml, {git_common_dir} expanded for
    the configured repository."""
    repo = (path.parent / str(values["repo"])).resolve()
    resolved = {}
    for key in PATH_KEYS:
        raw = str(values[key])
        if GIT_COMMON_DIR in raw:
            common = git_common_dir(repo)
            if common is None:
                raise ConfigError(f"{path}: {key}: {raw} names the repository's git directory, but {repo} is "
                                  f"not a git repository (run 'git init' there, or set {key} to a directory)")
            raw = raw.replace(GIT_COMMON_DIR, str(common))
        resolved[key] = (path.parent / raw).resolve()
    return resolved


def parse(text: str, path: Path) -> Config:
    """The whole file is checked before anything is refused: every problem is reported at once."""
    data, lines = load_yaml(text, str(path))
    where = Located(str(path), lines)
    problems: list[SchemaError] = []
    values = parse_fields(data, TOP_FIELDS, where, "agents.yaml", problems)
    for key in COMMAND_KEYS + PROJECT_COMMAND_KEYS:
        if values[key] is not None:
            values[key] = _collect(problems, _parse_command, values[key], where, key, placeholders=False)
    notify = _collect(problems, _parse_notify, values.pop("notify"), where) or ()
    defaults = {f.name: values.pop(f.name) for f in dataclasses.fields(AgentSettings)}
    for key in MERGED_KEYS:  # the declared default, then what the top level adds
        defaults[key] = _union(AgentSettings.__dataclass_fields__[key].default, defaults[key])
    agents = _parse_agents(values.pop("agents"), where, defaults, problems)
    raise_all(problems)
    values.update(resolve_paths(path, values))
    return Config(path=path, agents=agents, notify=notify, agent_defaults=AgentSettings(**defaults), **values)


def _collect(problems: list[SchemaError], parse: Any, *args: Any, **kwargs: Any) -> Any:
    """parse(...), or None with its problem added to the list."""
    try:
        return parse(*args, **kwargs)
    except SchemaError as exc:
        problems.append(exc)
        return None


def _parse_agents(data: Any, where: Located, defaults: dict[str, Any],
                  problems: list[SchemaError]) -> tuple[AgentConfig, ...]:
    if not isinstance(data, list):
        problems.append(SchemaError(where.at("agents"), "'agents' must be a list of agents",
                                    "write each agent as a '- name: ...' item"))
        return ()
    agents: list[AgentConfig] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(data):
        agent = _collect(problems, _parse_agent, item, index, where.child("agents", index), defaults, seen, problems)
        if agent is not None:
            agents.append(agent)
    return tuple(agents)


def _parse_agent(item: Any, index: int, here: Located, defaults: dict[str, Any], seen: dict[str, int],
                 problems: list[SchemaError]) -> AgentConfig | None:
    found: list[SchemaError] = []
    values = parse_fields(item, AGENT_FIELDS, here, f"agent #{index + 1}", found)
    problems.extend(found)
    preset = values.pop("preset")
    preset_values = presets.PRESETS[preset] if preset else {}
    for key in MERGED_KEYS:  # lists that add up: defaults and top level, the preset, the agent
        values[key] = _union(defaults[key], preset_values.get(key), values[key])
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
    for key in COMMAND_KEYS:
        if values[key] is not None:
            values[key] = _parse_command(values[key], here, key, placeholders=False)
    for key, inherited in defaults.items():
        if values[key] is None:
            values[key] = inherited
    return None if found else AgentConfig(**values)


def _union(*lists: Any) -> tuple[str, ...]:
    """The items of every list, first occurrence first."""
    return tuple(dict.fromkeys(item for items in lists if items for item in items))


NOTIFY_FIELDS = [
    Field("command", "any"),
    Field("desktop", "bool", default=False),
    Field("events", "strlist", default=None, check=lambda v: next(
        (f"unknown event '{e}' (known: {', '.join(NOTIFY_KINDS)})" for e in v if e not in NOTIFY_KINDS), None)),
]


def _parse_notify(data: Any, where: Located) -> tuple[Notifier, ...]:
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
        notifiers.append(Notifier(command=command, desktop=values["desktop"],
                                  events=values["events"] or NOTIFY_KINDS))
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


def expand_command(command: tuple[str, ...], values: Mapping[str, str]) -> list[str]:
    """Substitute placeholders argument by argument: task text never meets a shell."""
    return [arg.format_map(values) for arg in command]
