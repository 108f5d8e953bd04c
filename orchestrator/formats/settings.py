"""Every setting of agents.yaml, declared once.

Each setting is one typed dataclass field whose metadata carries its YAML kind, its default
(the only place the default lives), its range and its help. Three records, by who may set it:

- ProjectSettings: top level only (paths, the base branch, global caps, review mode, ...).
- AgentSettings: top level as the default for every agent, and overridable per agent
  (timeouts, setup and teardown, environment passthrough, limits). An agent that does not set
  one inherits the top-level value, which itself defaults to the declaration here.
- AgentIdentity: per agent only (name, role, command, its own env, paused).

From these the agents.yaml schema (`schema_fields`), the per-agent record (AgentConfig in
config.py) and the attempt spec that freezes them for a runner (store/attempts.py) all follow:
adding a setting is one line here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.formats.schema import Field

DAY = 86_400
REVIEW_MODES = ("human", "agent", "none")
MERGE_MODES = ("accept", "queue")
LAND_STRATEGIES = ("merge", "rebase")
# What the agent CLIs print when their provider says "not now" (HTTP 429, quota, plan limits), as
# they really print it: Claude Code, Codex, Gemini CLI, opencode, aider (litellm) and the raw APIs.
USAGE_LIMIT_MESSAGES = ("usage limit", "usage_limit_reached", "rate limit reached", "rate_limit_exceeded",
                        "rate limit exceeded", "ratelimiterror", "429 too many requests", "too many requests",
                        "you've hit your usage limit", "resource_exhausted", "quota exceeded", "exceeded your current quota",
                        "insufficient_quota")
# What the agent CLIs write for themselves into a repository (aider's chat history and its .gitignore
# line, the CLIs' settings folders): a commit of only these is no work done.
TOOL_NOISE = (".aider*", ".claude/*", ".codex/*", ".gemini/*", ".opencode/*", ".orchestrator-prompt.md")
# Corporate networks and cloud providers: without these an agent cannot reach its model.
PROXY_AND_CA_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                          "no_proxy", "all_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
                          "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION")


def setting(default: Any = dataclasses.MISSING, *, kind: str, help: str = "", minimum: float | None = None,
            maximum: float | None = None, choices: tuple = (), check: Callable[[Any], str | None] | None = None,
            required: bool = False, merge: bool = False) -> Any:
    """Declare one setting: a dataclass field that also knows how agents.yaml spells and checks it.

    merge (lists only): every level adds to the list instead of replacing it: the declared
    default, then the top level, then the agent's preset, then the agent itself."""
    meta = {"kind": kind, "help": help, "minimum": minimum, "maximum": maximum, "choices": choices,
            "check": check, "required": required, "merge": merge,
            "default": None if default is dataclasses.MISSING else default}
    if default is dataclasses.MISSING:  # filled by the parser (required, or derived)
        return field(metadata=meta)
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def schema_fields(record: type, *, inherit: bool = False) -> list[Field]:
    """The schema of a settings record. inherit: every default is None, meaning "not set here,
    take the value from the level above" (an agent's view of AgentSettings)."""
    fields = []
    for f in dataclasses.fields(record):
        if "kind" not in f.metadata:
            continue
        meta = dict(f.metadata)
        default = None if inherit or meta["merge"] else meta.pop("default")
        meta.pop("default", None)
        meta.pop("merge")
        if meta["kind"] == "path":
            meta["kind"] = "str"
        fields.append(Field(f.name, default=default, **meta))
    return fields


def values_of(record: object, of: type) -> dict[str, Any]:
    """The fields that `of` declares, read from record (an instance of `of` or of a subclass)."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(of)}


def _check_branch_prefix(value: str) -> str | None:
    if any(c in value for c in " ~^:?*[\\") or ".." in value or value.startswith(("/", "-")):
        return f"branch_prefix {value!r} is not usable in a git branch name"
    return None


def _check_queue_url(value: str) -> str | None:
    if not value.startswith(("postgresql://", "postgres://")):
        return (f"queue_url must be a PostgreSQL URL (postgresql://user@host/dbname), not {value.split('://')[0]!r}; "
                "leave it out to keep the queue in directories")
    return None


@dataclass(frozen=True, kw_only=True)
class ProjectSettings:
    repo: Path = setting(".", kind="path", help="the target git repository, relative to agents.yaml")
    base_branch: str = setting("main", kind="str", help="where task branches start and land")
    queue_dir: Path = setting("{git_common_dir}/orchestrator/queue", kind="path",
                              help="the queue directories, relative to agents.yaml ({git_common_dir}: the "
                                   "repository's .git, where no git command deletes them)")
    state_dir: Path = setting("{git_common_dir}/orchestrator/state", kind="path",
                              help="runs, logs, worktrees, locks, the event journal (keep it out of the "
                                   "working tree)")
    tick_seconds: float = setting(60.0, kind="float", minimum=0.05, maximum=DAY,
                                  help="the daemon's safety-net interval")
    max_running: int = setting(4, kind="int", minimum=1, maximum=1000, help="attempts running at once, in all")
    max_attempts: int = setting(3, kind="int", minimum=1, maximum=100,
                                help="counted attempts per task (a task may set its own)")
    retry_backoff_seconds: float = setting(10.0, kind="float", minimum=0, maximum=DAY,
                                           help="base of the exponential backoff between attempts")
    review: str = setting("human", kind="str", choices=REVIEW_MODES,
                          help="who reviews a finished task: human, agent, or none (straight to done/)")
    branch_prefix: str = setting("agent/", kind="str", check=_check_branch_prefix,
                                 help="task branches are named <prefix><task id>")
    merge_on_accept: bool = setting(False, kind="bool",
                                    help="merge the branch when a reviewer agent or review: none accepts")
    merge: str = setting("accept", kind="str", choices=MERGE_MODES,
                         help="accept: an accepted branch merges at once (accept --merge, merge_on_accept); "
                              "queue: every accepted branch goes to landing/ and the merge queue lands it "
                              "on the base only after `check` passed on the merged result")
    check: tuple[str, ...] | None = setting(None, kind="command",
                                            help="the project's test command, run by the merge queue in a "
                                                 "scratch worktree of each candidate (null: merging cleanly is "
                                                 "enough)")
    check_timeout_seconds: float = setting(1800.0, kind="float", minimum=1, maximum=DAY,
                                           help="a check running longer fails the candidate")
    land_strategy: str = setting("merge", kind="str", choices=LAND_STRATEGIES,
                                 help="how the merge queue puts a branch on the base: a merge commit, or its "
                                      "commits rebased (linear history; a branch with merge commits is squashed into one)")
    land_batch: int = setting(8, kind="int", minimum=1, maximum=100,
                              help="branches the merge queue tests together; a failing batch is bisected")
    land_parallel: int = setting(2, kind="int", minimum=1, maximum=64,
                                 help="checks the merge queue runs at once while it bisects a batch")
    max_land_attempts: int = setting(3, kind="int", minimum=1, maximum=100,
                                     help="times a branch may go back to its task for a conflict or a failed "
                                          "check before it waits for a person")
    push: str | None = setting(None, kind="str",
                               help="a git remote: landed base commits and the task branches in them are pushed "
                                    "there")
    max_rejections: int = setting(3, kind="int", minimum=1, maximum=100,
                                  help="rejections before a task fails")
    import_ticked: str = setting("done", kind="str", choices=("done", "cancel"),
                                 help="a re-imported plan item ticked [x] since: its waiting task goes to done/ "
                                      "(done) or is cancelled to failed/ (cancel)")
    max_breakdown_depth: int = setting(2, kind="int", minimum=0, maximum=10,
                                       help="how deep breakdown agents may split tasks")
    worktree_pool: int = setting(0, kind="int", minimum=0, maximum=100,
                                 help="keep this many prepared worktrees for reuse (large repositories)")
    fork_runners: bool = setting(True, kind="bool",
                                 help="the daemon forks runners from a preloaded process (~150 ms sooner each)")
    port_base: int = setting(20000, kind="int", minimum=1024, maximum=65000,
                             help="first port of the blocks handed to attempts as ORCH_PORT_BASE")
    port_block_size: int = setting(10, kind="int", minimum=1, maximum=1000, help="ports per attempt")
    queue_url: str | None = setting(None, kind="str", check=_check_queue_url,
                                    help="postgresql://...: keep the queue in PostgreSQL, shared by the daemons of "
                                         "several machines (docs/SCALE.md); null: the queue directories")
    lease_seconds: float = setting(60.0, kind="float", minimum=5, maximum=DAY,
                                   help="with queue_url: a claim whose runner sent no heartbeat for this long "
                                        "(its machine died) goes back to incoming/")


@dataclass(frozen=True, kw_only=True)
class AgentSettings:
    timeout_seconds: float = setting(3600.0, kind="float", minimum=1, maximum=7 * DAY,
                                     help="the agent's own running time before it is stopped")
    stall_seconds: float | None = setting(600.0, kind="float", minimum=1, maximum=7 * DAY,
                                          help="stop an agent that printed nothing and changed no file in its "
                                               "worktree for this long (a model call that never answers); "
                                               "null: never")
    prompt_on_stdin: bool = setting(False, kind="bool",
                                    help="give the prompt on the agent's standard input (else it reads nothing); "
                                         "the prompt is also {prompt} and the file {prompt_file}")
    kill_grace_seconds: float = setting(5.0, kind="float", minimum=0, maximum=600,
                                        help="between SIGTERM and SIGKILL when an attempt is stopped")
    auto_commit: bool = setting(True, kind="bool", help="commit what the agent left uncommitted")
    max_concurrent: int = setting(1, kind="int", minimum=1, maximum=1000, help="attempts of one agent at once")
    interval_seconds: float = setting(0.0, kind="float", minimum=0, maximum=DAY,
                                      help="minimum time between two starts of one agent")
    copy_files: tuple[str, ...] = setting((), kind="strlist", help="gitignored files copied from the main checkout")
    setup: tuple[str, ...] | None = setting(None, kind="command", help="run in a new worktree before the agent")
    setup_timeout_seconds: float = setting(600.0, kind="float", minimum=1, maximum=DAY)
    teardown: tuple[str, ...] | None = setting(None, kind="command", help="run in the worktree before it is removed")
    env_passthrough: tuple[str, ...] = setting(PROXY_AND_CA_VARIABLES, kind="strlist", merge=True,
                                               help="variables kept from the daemon's environment (names or "
                                                    "patterns like AWS_*); adds to the defaults and the preset's")
    usage_limit_exit_codes: tuple[int, ...] = setting((75,), kind="intlist")
    usage_limit_patterns: tuple[str, ...] = setting(USAGE_LIMIT_MESSAGES, kind="strlist", merge=True,
                                                    help="output that means the provider's limit was hit; adds to "
                                                         "the defaults and the preset's")
    usage_limit_cooldown_seconds: float = setting(1800.0, kind="float", minimum=1, maximum=7 * DAY)
    provider: str | None = setting(None, kind="str",
                                   help="whose usage limits the agent spends (anthropic, openai, google, ...): a "
                                        "limit one agent hits rests every agent naming the same provider; "
                                        "null: the agent's limits are its own")
    memory_limit_mb: int | None = setting(None, kind="int", minimum=16, maximum=1_000_000)
    cpu_limit_seconds: float | None = setting(None, kind="float", minimum=1, maximum=30 * DAY)
    noise_paths: tuple[str, ...] = setting(TOOL_NOISE, kind="strlist", merge=True,
                                           help="files agent tools write for themselves: commits that change only "
                                                "these (or only such lines of .gitignore) are not work")
    max_log_mb: int = setting(100, kind="int", minimum=1, maximum=1_000_000,
                              help="agent.log keeps its start and newest output within this size")
    max_cost_usd: float | None = setting(None, kind="float", minimum=0, maximum=1_000_000,
                                         help="a task whose attempts cost this much in all (as the CLI reports "
                                              "it) is held in blocked/ for a person instead of run again")
    daily_budget_usd: float | None = setting(None, kind="float", minimum=0, maximum=1_000_000,
                                             help="an agent that spent this much today (UTC) rests until "
                                                  "midnight, under 'needs you'")


@dataclass(frozen=True, kw_only=True)
class AgentIdentity:
    name: str = setting(kind="str", required=True, help="unique; also what tasks pin with 'agent:'")
    role: str = setting("implement", kind="str", help="the agent takes tasks of this role (or pinned to it)")
    command: tuple[str, ...] = setting(kind="any", help="an argument list (or a string split like a shell)")
    env: Mapping[str, str] = setting({}, kind="strmap", help="variables set for the agent")
    paused: bool = setting(False, kind="bool", help="take no new tasks")


MERGED_KEYS = tuple(f.name for f in dataclasses.fields(AgentSettings) if f.metadata["merge"])
COMMAND_KEYS = tuple(f.name for f in dataclasses.fields(AgentSettings) if f.metadata["kind"] == "command")
PROJECT_COMMAND_KEYS = tuple(f.name for f in dataclasses.fields(ProjectSettings) if f.metadata["kind"] == "command")
