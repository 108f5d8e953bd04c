"""The environment an agent runs in: built, not inherited.

An agent gets the basics a command-line program needs (PATH without the daemon's
virtualenv, HOME, USER, locale, terminal, temp dir), the variables named in
env_passthrough (exact names or patterns like AWS_*), the agent's `env`, and the ORCH_*
variables of its attempt. Nothing else leaks in: not the daemon's virtualenv or PYTHONPATH
(an agent that ran `pip install` with them would install into the daemon's environment),
not the orchestrator's own variables, not secrets the daemon happens to hold.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping

BASICS = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "LC_*", "TERM", "COLORTERM", "TMPDIR",
          "TZ", "DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "SSH_AUTH_SOCK")
NEVER = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "__PYVENV_LAUNCHER__",
         "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "ORCH_*", "ORCHESTRATOR_*", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")


def _daemon_venv_bin() -> str | None:
    if sys.prefix != sys.base_prefix:
        return os.path.join(sys.prefix, "bin")
    venv = os.environ.get("VIRTUAL_ENV")
    return os.path.join(venv, "bin") if venv else None


_WILDCARDS = re.compile(r"[*?\[]")


@functools.lru_cache(maxsize=64)
def _matcher(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    """Whether a name matches any of these fnmatch patterns, case-sensitive as fnmatchcase.

    A runner builds the environment twice per attempt, in a process forked for that attempt (so
    nothing compiled is cached yet). Nearly every pattern is a plain name or a prefix (`AWS_*`):
    those are a set lookup and one startswith; only the others are compiled into a regex,
    which alone took a millisecond per runner."""
    exact = frozenset(p for p in patterns if not _WILDCARDS.search(p))
    prefixes = tuple(p[:-1] for p in patterns if p.endswith("*") and not _WILDCARDS.search(p[:-1]))
    others = [p for p in patterns if p not in exact and not (p.endswith("*") and p[:-1] in prefixes)]
    regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in others)).match if others else None

    def matches(name: str) -> bool:
        return name in exact or name.startswith(prefixes) or (regex is not None and regex(name) is not None)
    return matches


def agent_environment(base: Mapping[str, str], passthrough: Iterable[str], extra: Mapping[str, str],
                      orch: Mapping[str, str]) -> dict[str, str]:
    keep, never = _matcher(tuple(BASICS) + tuple(passthrough)), _matcher(NEVER)
    env = {k: v for k, v in base.items() if keep(k) and not never(k)}
    venv_bin = _daemon_venv_bin()
    if venv_bin and "PATH" in env:
        env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p and p != venv_bin)
    env["PYTHONUNBUFFERED"] = "1"  # a Python agent's prints reach its log in order, as they happen
    env.update(extra)
    env.update(orch)
    return env


WORKTREE_VENV = ".venv"  # a virtualenv the setup made in the worktree: the agent runs with it active


def with_worktree_venv(env: Mapping[str, str], worktree: str | os.PathLike) -> dict[str, str]:
    """env with the worktree's own virtualenv active (first on PATH, VIRTUAL_ENV set), if it has one:
    the agent's `python` and `pytest` are then the worktree's, running the worktree's code."""
    venv = os.path.join(worktree, WORKTREE_VENV)
    bin_dir = os.path.join(venv, "bin")
    if not os.path.isfile(os.path.join(bin_dir, "python")):
        return dict(env)
    path = env.get("PATH", "")
    return {**env, "VIRTUAL_ENV": venv, "PATH": os.pathsep.join(p for p in (bin_dir, path) if p)}


def resolve_program(program: str, env: Mapping[str, str]) -> str | None:
    """Where the agent's program is: on the PATH the agent gets, else in the daemon's own virtualenv
    (a CLI installed there, beside the orchestrator, runs by its full path: the virtualenv itself
    stays off the agent's PATH). A path with a slash is the caller's to check. None: not found."""
    if "/" in program:
        return program
    found = shutil.which(program, path=env.get("PATH", ""))
    if found:
        return found
    venv_bin = _daemon_venv_bin()
    candidate = os.path.join(venv_bin, program) if venv_bin else None
    if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
        return candidate
    return None
