"""The fork server: a process that has loaded the runner and forks one per attempt.

    python -m orchestrator.forkserver     (started by launcher.Launcher; not for people)

It reads attempt directories from stdin, one per line, and answers each with the PID of the
runner it forked, one per line. It stays single-threaded and configures nothing (no logging,
no open files) so a fork copies nothing that could misbehave in the child. Children are
reaped by the kernel (SIGCHLD ignored here, restored in each child, which waits for its
agent). End of file on stdin ends the server; runners already forked run on. Each child
retitles itself (setproctitle) with the command line a fresh runner would have, so ps,
pkill -f and our own process checks see a runner as a runner however it was started.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from orchestrator.tick import runner
from orchestrator.tick.launcher import become_runner_of

setproctitle: Callable[[str], None] | None
try:
    from setproctitle import setproctitle
except ImportError:  # a nicety: without it a forked runner shows the server's command line
    setproctitle = None


def serve() -> int:
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    runner.preload()  # once here instead of in every runner
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # no zombies: the kernel reaps our children
    for line in iter(requests.readline, b""):
        if not line.endswith(b"\n"):
            break  # cut short: whoever sent it is gone
        pid = fork_runner(Path(line[:-1].decode()))
        replies.write(f"{pid}\n".encode())
        replies.flush()
    return 0


def fork_runner(attempt_dir: Path) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 70  # EX_SOFTWARE, should anything below escape
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the runner waits for its agent
        if setproctitle is not None:
            setproctitle(f"{sys.executable} -m orchestrator.runner {attempt_dir}")
        become_runner_of(attempt_dir)
        code = runner.entry([str(attempt_dir)], forked=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # the runner logs its own errors; this is for one that escaped main()
        traceback.print_exc()
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


