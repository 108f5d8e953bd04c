"""Command line: argument parsing and output. main(argv) -> exit code.

Expected errors (OrchestratorError) print one line and exit with their code; anything else
is logged with its traceback to the state directory's log and reported in one line.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator import __version__
from orchestrator.base import log
from orchestrator.base.errors import ConfigError, OrchestratorError, UsageError
from orchestrator.formats import config as configmod
from orchestrator.formats import task as taskfmt
from orchestrator.formats.layout import StateDir
from orchestrator.store.records import STATES

# Read-only commands, and enqueue (it needs only the queue), still work when agents.yaml is invalid.
OBSERVERS = ("status", "list", "show", "logs", "history", "stats", "dashboard")
WORKS_ON_AN_INVALID_CONFIG = (*OBSERVERS, "enqueue", "validate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orchestrator", description="Keep several coding agents busy, "
                                     "one git worktree per task.")
    parser.add_argument("--version", action="version", version=f"orchestrator {__version__}")
    parser.add_argument("--config", help="agents.yaml (default: $ORCHESTRATOR_CONFIG, else ./agents.yaml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on the terminal")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="run one tick and return; agents keep running")
    mode.add_argument("--daemon", action="store_true", help="tick every tick_seconds until SIGTERM or SIGINT")
    mode.add_argument("--drain", action="store_true", help="tick until nothing is runnable or running")
    parser.add_argument("--timeout", type=float, help="with --drain: give up after this many seconds (exit 1; exit 4 at once if all that is left retries later)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_task_commands, _decision_commands, _branch_commands, _control_commands, _reading_commands,
                _setup_commands):
        add(sub)
    return parser


def _task_commands(sub: Any) -> None:
    """enqueue, list, show, status, logs"""
    p = sub.add_parser("enqueue", help="add a task; prints its id")
    p.add_argument("title")
    body = p.add_mutually_exclusive_group()
    body.add_argument("--body", default="")
    body.add_argument("--body-file", help="read the body from a file, or - for standard input")
    p.add_argument("--role")
    p.add_argument("--priority", type=str.upper, choices=taskfmt.PRIORITIES, help="P0 (first) .. P3, any case")
    p.add_argument("--depends-on", action="append", default=[], metavar="ID",
                   help="a task that must be done first (repeat for several)")
    p.add_argument("--agent", help="pin the task to this agent")
    p.add_argument("--id", dest="task_id", help="the task id (default: from the title)")
    p.add_argument("--max-attempts", type=int)

    p = sub.add_parser("list", help="tasks, per state")
    p.add_argument("state", nargs="?", choices=STATES)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("show", help="one task: state, attempts, branch, worktree, last error, runs")
    p.add_argument("task_id")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("status", help="the board: counts, what runs, what needs you")
    p.add_argument("--json", action="store_true")
    p.add_argument("--watch", action="store_true", help="refresh in place until Ctrl-C")

    p = sub.add_parser("logs", help="an attempt's agent output")
    p.add_argument("task_id")
    p.add_argument("--attempt", type=int)
    p.add_argument("--follow", "-f", action="store_true", help="keep printing while the attempt runs")


def _decision_commands(sub: Any) -> None:
    """accept, reject, retry, cancel"""
    p = sub.add_parser("accept", help="accept a task waiting for review (provisional/ to done/)")
    p.add_argument("task_id")
    p.add_argument("--merge", action="store_true", help="merge its branch into the base branch first "
                   "(with 'merge: queue': through the merge queue)")
    landing = p.add_mutually_exclusive_group()
    landing.add_argument("--land", dest="land", action="store_const", const=True, default=None,
                         help="queue the branch to land (landing/): it reaches the base once the check passed")
    landing.add_argument("--no-land", dest="land", action="store_const", const=False,
                         help="accept without landing, even with 'merge: queue'")

    p = sub.add_parser("reject", help="send a task back with feedback for the next attempt")
    p.add_argument("task_id")
    p.add_argument("--reason", required=True)

    p = sub.add_parser("retry", help="another round for a task in failed/ or blocked/")
    p.add_argument("task_id")

    p = sub.add_parser("cancel", help="stop a task (killing a running attempt); it goes to failed/")
    p.add_argument("task_id")


def _branch_commands(sub: Any) -> None:
    """diff, checkout, prune"""
    p = sub.add_parser("diff", help="what a task's branch changes since it left the base branch (git's pager "
                                    "and colours on a terminal)")
    p.add_argument("task_id")
    p.add_argument("--stat", action="store_true", help="only the files and how much changed in each")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("checkout", help="a worktree of a task's branch to look at and run; prints its path "
                                        "(cd \"$(orchestrator checkout ID)\")")
    p.add_argument("task_id")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("prune", help="delete finished tasks' branches whose every commit is on the base branch, "
                                     "and their clean review worktrees")
    p.add_argument("--dry-run", action="store_true", help="say what would go; change nothing")
    p.add_argument("--json", action="store_true")


def _control_commands(sub: Any) -> None:
    """pause, resume, stop, import"""
    p = sub.add_parser("pause", help="no new work for one agent, or for all (a PAUSE file in the state directory)")
    p.add_argument("agent", nargs="?")
    p = sub.add_parser("resume", help="undo pause (and clear an agent's automatic pause)")
    p.add_argument("agent", nargs="?")
    p = sub.add_parser("stop", help="stop the daemon; running agents keep running unless --kill-agents")
    p.add_argument("--kill-agents", action="store_true",
                   help="also stop every running attempt; their tasks go back to incoming/ without using an attempt")

    p = sub.add_parser("land", help="run the merge queue here until landing/ is empty (the daemon runs it too)")
    p.add_argument("--once", action="store_true", help="one round only")
    p.add_argument("--quiet", action="store_true", help="print nothing (the daemon starts it so)")

    p = sub.add_parser("import", help="turn a Markdown plan into tasks")
    p.add_argument("file")
    p.add_argument("--dry-run", action="store_true", help="show what it understood (tasks, dependencies, critical "
                   "path, parallelism, warnings) and change nothing")
    p.add_argument("--json", action="store_true", help="the same as one JSON document")
    p.add_argument("--sequential", action="store_true", help="read plain lists and sections as running in "
                   "order (by default only what the plan states, and [P]-marked spec-kit lists, are ordered)")
    p.add_argument("--role", help="the role of every imported task")
    p.add_argument("--prefix", help="put this before every task id (to keep two plans apart)")


def _reading_commands(sub: Any) -> None:
    """history, stats, dashboard"""
    p = sub.add_parser("history", help="every transition of a task, from the event journal")
    p.add_argument("task_id")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("stats", help="per agent and role: attempts, outcomes, reviews, durations")
    p.add_argument("--since", help="a duration (7d, 12h) or a date")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("dashboard", help="a web page on 127.0.0.1: board, tasks, logs, diffs, stats, and the "
                       "decisions (accept, land, reject, retry, cancel, pause, resume, enqueue)")
    p.add_argument("--port", type=int, default=8765)


def _setup_commands(sub: Any) -> None:
    """init, validate, demo"""
    p = sub.add_parser("init", help="write agents.yaml (kept if there is one) and make the queue and state directories in .git")
    p.add_argument("directory", nargs="?", default=".")
    p.add_argument("--agent", metavar="PRESET", help="write an agent from a preset (claude-code, codex, aider, "
                                                       "gemini, opencode)")

    sub.add_parser("validate", help="check agents.yaml and every task file; exit 1 with reasons")

    p = sub.add_parser("demo", help="run the built-in demo in a scratch directory")
    p.add_argument("--keep", metavar="DIR", help="build the demo in DIR and keep it")




def main(argv: list[str] | None = None, *, fork_server: subprocess.Popen | None = None) -> int:
    """fork_server: one started ahead for --daemon or --drain (cli/entry.py), for their scheduler."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run(args, parser, fork_server)
    except OrchestratorError as exc:
        print(f"orchestrator: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # unexpected: the traceback goes to the log, one line to the user
        log.get().exception("unexpected_error", command=args.command)
        print(f"orchestrator: unexpected error: {type(exc).__name__}: {exc} (details in the log)", file=sys.stderr)
        return 70


def run(args: argparse.Namespace, parser: argparse.ArgumentParser, fork_server: subprocess.Popen | None = None) -> int:
    modes = args.once or args.daemon or args.drain
    if modes and args.command:
        raise UsageError("--once, --daemon and --drain do not combine with a command")
    if args.command == "init":
        from orchestrator.cli.scaffold import init
        print(init(Path(args.directory), args.agent))
        return 0
    if args.command == "demo":
        from orchestrator.cli.demo import run_demo
        return run_demo(Path(args.keep) if args.keep else None)
    if not modes and not args.command:
        parser.print_help()
        return 2
    path = configmod.find_config_path(args.config)
    try:
        cfg = configmod.load(path)
    except ConfigError as exc:
        if args.command not in WORKS_ON_AN_INVALID_CONFIG or not path.exists():
            raise
        cfg = configmod.stand_in(path, str(exc))
        if args.command not in ("enqueue", "validate"):  # they say it their own way
            print(f"orchestrator: warning: {exc}", file=sys.stderr)
    log.configure(StateDir(cfg.state_dir).log_file, verbose=args.verbose,
                  to_terminal=bool(modes) or args.verbose)
    if modes:
        return run_scheduler(cfg, args, fork_server)
    from orchestrator.api import Orchestrator
    from orchestrator.cli.commands import HANDLERS
    return HANDLERS[args.command](Orchestrator(config=cfg), args)


def run_scheduler(cfg: configmod.Config, args: argparse.Namespace, fork_server: subprocess.Popen | None) -> int:
    from orchestrator.tick.checks import check_repository, command_warnings, layout_warnings, setup_warnings
    from orchestrator.tick.drain import ONLY_LATER, drain_report
    from orchestrator.tick.scheduler import Scheduler
    check_repository(cfg)
    for warning in command_warnings(cfg):
        log.get().warning("agent_command_missing", detail=warning)
    for warning in layout_warnings(cfg):
        log.get().warning("queue_in_working_tree", detail=warning)
    for warning in setup_warnings(cfg):
        log.get().warning("virtualenv_copied", detail=warning)
    if args.daemon:
        from orchestrator.tick.daemon import Daemon
        return Daemon(Scheduler(cfg, persist_index=False, long_lived=True, fork_server=fork_server)).run()
    if args.once:
        report = Scheduler(cfg).tick()
        if report.skipped:
            print("orchestrator: another tick is running; skipped", file=sys.stderr)
        return 0
    scheduler = Scheduler(cfg, long_lived=True, fork_server=fork_server)
    try:
        done = drain_report(scheduler, args.timeout)
    finally:
        scheduler.close()
    if done.code == ONLY_LATER and done.retry_at is not None:
        at = datetime.fromtimestamp(done.retry_at, UTC).isoformat(timespec="seconds")
        print(f"orchestrator: --drain: nothing is running, and what is left waits for a retry after the "
              f"--timeout of {args.timeout:g} s (the first: {done.waiting_task} at {at})", file=sys.stderr)
    elif done.code:
        print(f"orchestrator: --drain gave up after {args.timeout:g} s with work left", file=sys.stderr)
    return done.code


