"""The fork server, started before the package is loaded.

A long-lived scheduler (--daemon, --drain) forks its runners from a fork server (forkserver.py),
whose loading (the runner's imports, ~130 ms on the project's machine) its first attempt waits
for. The command's entry point (cli/entry.py) therefore starts the server first, when the command
line asks for a long-lived mode, and the server loads on another core while the command imports
the rest of the package, reads its configuration and runs its first tick; the launcher adopts
it. A server started for nothing (--help, a bad config, fork_runners: false) is let go: it exits
when its stdin closes. This module imports only the standard library and the subprocess funnel:
it runs before everything else.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from orchestrator.base.commands import start_detached

# The directory holding the orchestrator package (this file is orchestrator/tick/prestart.py).
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
LONG_LIVED_FLAGS = ("--daemon", "--drain")
NOT_RUNNING_FLAGS = ("-h", "--help", "--version")


def runner_environment() -> dict[str, str]:
    """The daemon's environment, with this package importable whatever the runner's working directory."""
    env = dict(os.environ)
    package_root = str(PACKAGE_ROOT)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    return env


def start_fork_server(cwd: Path | str) -> subprocess.Popen:
    """A fork server, talking over pipes (launcher.Launcher speaks its protocol). Raises OSError."""
    return start_detached([sys.executable, "-m", "orchestrator.forkserver"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, env=runner_environment(), cwd=cwd)


def wants_fork_server(argv: Sequence[str]) -> bool:
    """Whether argv asks for --daemon or --drain (and not for help or the version).

    Read before argparse (which comes with the package): a flag after `--` is an argument, and
    an abbreviated flag is missed, which costs only the head start."""
    words = list(argv)
    if "--" in words:
        words = words[:words.index("--")]
    return any(flag in words for flag in LONG_LIVED_FLAGS) and not any(flag in words for flag in NOT_RUNNING_FLAGS)


def start_fork_server_early(argv: Sequence[str]) -> subprocess.Popen | None:
    """A fork server when argv wants one, else None. Its working directory is / (the state
    directory is not known yet, and a long-lived process should hold no directory a person may
    want to remove)."""
    if not wants_fork_server(argv):
        return None
    try:
        return start_fork_server("/")
    except OSError:
        return None  # the launcher tries again when it needs one, and logs why it could not


def let_go(server: subprocess.Popen) -> None:
    """Close the pipes to a fork server: it exits on end of file, on its own time (not waited
    for: the subprocess module reaps it later, or init once this process is gone). Its runners
    run on."""
    for pipe in (server.stdin, server.stdout):
        if pipe is not None:
            try:
                pipe.close()
            except OSError:
                pass  # a pipe whose other end is gone: closed all the same
