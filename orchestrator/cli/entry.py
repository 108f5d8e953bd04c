"""The command's entry point (`orchestrator`, `python -m orchestrator`).

Two things here are for speed, both for the short-lived uses (--drain, --once, a command from
a script or cron), where the interpreter's start and end weigh as much as the work:
- a long-lived mode's fork server is started before the rest of the package is imported
  (tick/prestart.py), so that it loads on another core meanwhile; cli.main hands it on;
- the process ends without the interpreter's teardown (freeing every module: ~25 ms on the
  project's machine) once all it wrote is flushed and no thread of its own is left.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

from orchestrator.tick.prestart import let_go, start_fork_server_early


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line argv (default: sys.argv[1:]); return its exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    server = start_fork_server_early(args)
    try:
        # Imported here, not above: the fork server loads while this import runs (the point of the module).
        from orchestrator.cli.main import main as run
        return run(args, fork_server=server)
    finally:
        if server is not None:
            let_go(server)  # the scheduler has its own reference; closing twice is harmless


def command() -> NoReturn:
    """The console script and `python -m orchestrator`: main(), then exit."""
    code = main()
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)  # a thread that the interpreter would wait for: let it
    logging.shutdown()  # what atexit would do that matters: the log handlers' last lines
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`): nothing more can reach it
            code = code or 1
    os._exit(code)
