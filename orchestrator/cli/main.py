"""Command line: argument parsing and output. main(argv) -> exit code.

Expected errors (OrchestratorError) print one line and exit with their code; anything else
is logged with its traceback to the state directory's log and reported in one line.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import yaml

from orchestrator import __version__
from orchestrator.formats import config as configmod
from orchestrator.base import log
from orchestrator.formats import task as taskfmt
from orchestrator.observe import views
from orchestrator.base.errors import ConfigError, OrchestratorError, UsageError
from orchestrator.store.queue import STATES, Queue
from orchestrator.process.wake import poke

OBSERVERS = ("status", "list", "show", "logs", "history", "stats", "dashboard")  # read-only: they still work when agents.yaml is invalid


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
    parser.add_argument("--timeout", type=float, help="with --drain: give up after this many seconds (exit 1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("enqueue", help="add a task; prints its id")
    p.add_argument("title")
    body = p.add_mutually_exclusive_group()
    body.add_argument("--body", default="")
    body.add_argument("--body-file", help="read the body from a file, or - for standard input")
    p.add_argument("--role")
    p.add_argument("--priority", choices=taskfmt.PRIORITIES)
    p.add_argument("--depends-on", nargs="+", default=[], metavar="ID")
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

    p = sub.add_parser("accept", help="accept a task waiting for review (provisional/ to done/)")
    p.add_argument("task_id")
    p.add_argument("--merge", action="store_true", help="merge its branch into the base branch first")

    p = sub.add_parser("reject", help="send a task back with feedback for the next attempt")
    p.add_argument("task_id")
    p.add_argument("--reason", required=True)

    p = sub.add_parser("retry", help="another round for a task in failed/ or blocked/")
    p.add_argument("task_id")

    p = sub.add_parser("cancel", help="stop a task (killing a running attempt); it goes to failed/")
    p.add_argument("task_id")

    p = sub.add_parser("pause", help="no new work for one agent, or for all (a PAUSE file in the state directory)")
    p.add_argument("agent", nargs="?")
    p = sub.add_parser("resume", help="undo pause (and clear an agent's automatic pause)")
    p.add_argument("agent", nargs="?")
    p = sub.add_parser("stop", help="stop the daemon; running agents keep running unless --kill-agents")
    p.add_argument("--kill-agents", action="store_true",
                   help="also stop every running attempt; their tasks go back to incoming/ without using an attempt")

    p = sub.add_parser("import", help="turn a Markdown plan into tasks")
    p.add_argument("file")
    p.add_argument("--dry-run", action="store_true", help="print the tasks and the dependency graph only")
    p.add_argument("--role", help="the role of every imported task")
    p.add_argument("--prefix", help="put this before every task id (to keep two plans apart)")

    p = sub.add_parser("history", help="every transition of a task, from the event journal")
    p.add_argument("task_id")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("stats", help="per agent and role: attempts, outcomes, reviews, durations")
    p.add_argument("--since", help="a duration (7d, 12h) or a date")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("dashboard", help="a read-only web page on 127.0.0.1 (board, tasks, logs, diffs, stats)")
    p.add_argument("--port", type=int, default=8765)

    p = sub.add_parser("init", help="scaffold agents.yaml, queue/ and a .gitignore entry")
    p.add_argument("directory", nargs="?", default=".")
    p.add_argument("--agent", metavar="PRESET", help="write an agent from a preset (claude-code, codex, aider, "
                                                       "gemini, opencode)")

    sub.add_parser("validate", help="check agents.yaml and every task file; exit 1 with reasons")

    p = sub.add_parser("demo", help="run the built-in demo in a scratch directory")
    p.add_argument("--keep", metavar="DIR", help="build the demo in DIR and keep it")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run(args, parser)
    except OrchestratorError as exc:
        print(f"orchestrator: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # unexpected: the traceback goes to the log, one line to the user
        log.get().exception("unexpected_error", command=args.command)
        print(f"orchestrator: unexpected error: {type(exc).__name__}: {exc} (details in the log)", file=sys.stderr)
        return 70


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
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
        if args.command not in OBSERVERS or not path.exists():
            raise
        cfg = configmod.stand_in(path, str(exc))
        print(f"orchestrator: warning: {exc}", file=sys.stderr)
    log.configure(cfg.state_dir / "logs" / "orchestrator.jsonl", verbose=args.verbose,
                  to_terminal=bool(modes) or args.verbose)
    if modes:
        return run_scheduler(cfg, args)
    return COMMAND_HANDLERS[args.command](cfg, args)


def run_scheduler(cfg: configmod.Config, args: argparse.Namespace) -> int:
    from orchestrator.tick.drain import drain
    from orchestrator.tick.scheduler import Scheduler
    from orchestrator.tick.checks import check_repository, command_warnings
    check_repository(cfg)
    for warning in command_warnings(cfg):
        log.get().warning("agent_command_missing", detail=warning)
    if args.daemon:
        from orchestrator.tick.daemon import Daemon
        return Daemon(Scheduler(cfg, persist_index=False, long_lived=True)).run()
    if args.once:
        report = Scheduler(cfg).tick()
        if report.skipped:
            print("orchestrator: another tick is running; skipped", file=sys.stderr)
        return 0
    scheduler = Scheduler(cfg, long_lived=True)
    try:
        return drain(scheduler, args.timeout)
    finally:
        scheduler.close()


def _slug(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-")
    return slug or "task"


def cmd_enqueue(cfg: configmod.Config, args: argparse.Namespace) -> int:
    queue = Queue(cfg.queue_dir, cfg.state_dir)
    queue.ensure_dirs()
    body = args.body
    if args.body_file == "-":
        body = sys.stdin.read()
    elif args.body_file:
        try:
            body = Path(args.body_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--body-file {args.body_file}: cannot read: {exc}") from None
    front = {"title": args.title}
    for key, value in (("role", args.role), ("priority", args.priority), ("agent", args.agent),
                       ("max_attempts", args.max_attempts)):
        if value is not None:
            front[key] = value
    if args.depends_on:
        front["depends_on"] = args.depends_on
    if args.agent and cfg.agent(args.agent) is None:
        raise UsageError(f"--agent {args.agent}: no such agent in {cfg.path}")
    for dep in args.depends_on:
        taskfmt.check_id(dep)
        if queue.locate(dep) is None:
            raise UsageError(f"--depends-on {dep}: no such task (enqueue it first)")
    text = "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n" + body
    base_id = args.task_id or _slug(args.title)
    task_id = base_id
    for n in range(2, 1000):
        if args.task_id or queue.locate(task_id) is None:
            break
        task_id = f"{base_id}-{n}"
    task = taskfmt.parse(text, file_id=task_id, source="the command line", trusted=False)
    queue.check_case([task.id])
    from orchestrator.flow import graph
    graph.check_new_dependencies(queue, {task.id: task.depends_on})
    state = graph.waiting_state(queue, task.depends_on)
    queue.enqueue(task, actor="person", state=state,
                  reason="waiting for dependencies" if state == "blocked" else None)
    poke(cfg.state_dir)
    print(task.id)
    return 0


def cmd_list(cfg, args) -> int:
    rows = views.list_tasks(Queue(cfg.queue_dir, cfg.state_dir), args.state)
    print(views.dumps(rows) if args.json else views.render_list(rows))
    return 0


def cmd_show(cfg, args) -> int:
    data = views.show_task(cfg, Queue(cfg.queue_dir, cfg.state_dir), taskfmt.check_id(args.task_id))
    print(views.dumps(data) if args.json else views.render_show(data))
    return 0


def cmd_status(cfg, args) -> int:
    queue = Queue(cfg.queue_dir, cfg.state_dir)
    if args.watch:
        from orchestrator.observe import board
        board.watch(lambda: views.status(cfg, queue))
        return 0
    data = views.status(cfg, queue)
    if args.json:
        print(views.dumps(data))
    elif sys.stdout.isatty():
        from orchestrator.observe import board
        board.show(data)
    else:
        print(views.render_status(data))
    return 0


def cmd_logs(cfg, args) -> int:
    from orchestrator.store.attempts import Runs
    from orchestrator.base.errors import NotFoundError
    runs = Runs(cfg.state_dir)
    task_id = taskfmt.check_id(args.task_id)
    path = views.log_path(runs, task_id, args.attempt)
    if path is None or not path.exists():
        which = f"attempt {args.attempt}" if args.attempt else "any attempt"
        raise NotFoundError(f"no log for {which} of task '{task_id}' yet")
    if args.follow:
        attempt = runs.get(task_id, int(path.parent.name))
        views.follow(path, lambda: attempt.result() is None and _runner_alive(attempt), sys.stdout)
    else:
        sys.stdout.write(path.read_bytes().decode(errors="replace"))
    return 0


def _runner_alive(attempt) -> bool:
    from orchestrator.process import tree
    owner = attempt.owner()
    return owner is None or tree.is_alive(tree.Identity.from_record(owner))


def cmd_validate(cfg, args) -> int:
    from orchestrator.tick.checks import validate
    problems = validate(cfg)
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"{cfg.path}: ok ({len(cfg.agents)} agents)")
    return 0


def cmd_accept(cfg, args) -> int:
    from orchestrator.flow import review
    from orchestrator.git.repo import Repo
    queue = Queue(cfg.queue_dir, cfg.state_dir)
    task_id = taskfmt.check_id(args.task_id)
    state = queue.locate(task_id)
    src = state if state in ("provisional", "blocked") else "provisional"
    how = review.accept(queue, Repo(cfg.repo), task_id, src, base_branch=cfg.base_branch,
                        branch=cfg.branch_prefix + task_id, merge=args.merge, actor="person")
    poke(cfg.state_dir)
    print(f"{task_id}: done ({how})")
    return 0


def cmd_reject(cfg, args) -> int:
    from orchestrator.flow import review
    from orchestrator.base.errors import StateError
    queue = Queue(cfg.queue_dir, cfg.state_dir)
    task_id = taskfmt.check_id(args.task_id)
    state = queue.locate(task_id)
    if state != "provisional":
        raise StateError(f"task '{task_id}' is in {state or 'no state'}/; only a task in provisional/ can be rejected")
    if not args.reason.strip():
        raise UsageError("--reason must say what to change")
    dst = review.reject(queue, task_id, "provisional", reason=args.reason.strip(), max_rejections=cfg.max_rejections,
                        actor="person")
    poke(cfg.state_dir)
    print(f"{task_id}: {dst}")
    return 0


def cmd_retry(cfg, args) -> int:
    from orchestrator.flow.control import retry
    state = retry(Queue(cfg.queue_dir, cfg.state_dir), taskfmt.check_id(args.task_id))
    poke(cfg.state_dir)
    print(f"{args.task_id}: {state}")
    return 0


def cmd_cancel(cfg, args) -> int:
    from orchestrator.flow.control import cancel
    state = cancel(cfg, Queue(cfg.queue_dir, cfg.state_dir), taskfmt.check_id(args.task_id))
    print(f"{args.task_id}: {state} (cancelled)")
    return 0


def cmd_pause(cfg, args) -> int:
    from orchestrator.flow.control import pause
    print(pause(cfg, args.agent))
    return 0


def cmd_resume(cfg, args) -> int:
    from orchestrator.flow.control import resume
    print(resume(cfg, args.agent))
    poke(cfg.state_dir)
    return 0


def cmd_stop(cfg, args) -> int:
    from orchestrator.flow.control import stop_all
    from orchestrator.process.instance import stop_daemon
    pid = stop_daemon(cfg.state_dir)
    print(f"stopped the daemon (pid {pid})" if pid else "no daemon was running")
    if args.kill_agents:
        stopped = stop_all(cfg, Queue(cfg.queue_dir, cfg.state_dir))
        print(f"stopped {len(stopped)} running attempt(s); back in incoming/: {', '.join(stopped) or '-'}")
    return 0


def cmd_history(cfg, args) -> int:
    from orchestrator.observe import stats
    events = stats.history(Queue(cfg.queue_dir, cfg.state_dir).journal, taskfmt.check_id(args.task_id))
    print(views.dumps(events) if args.json else stats.render_history(args.task_id, events))
    return 0


def cmd_stats(cfg, args) -> int:
    from orchestrator.observe import stats
    data = stats.compute(Queue(cfg.queue_dir, cfg.state_dir).journal, stats.parse_since(args.since))
    print(views.dumps(data) if args.json else stats.render_stats(data))
    return 0


def cmd_dashboard(cfg, args) -> int:
    from orchestrator.web.dashboard import make_server
    server = make_server(cfg, args.port)
    print(f"dashboard: http://127.0.0.1:{server.server_address[1]}/  (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def cmd_import(cfg, args) -> int:
    from orchestrator.plans.importer import import_plan
    print(import_plan(cfg, Path(args.file), dry_run=args.dry_run, role=args.role, prefix=args.prefix))
    return 0


COMMAND_HANDLERS = {"enqueue": cmd_enqueue, "list": cmd_list, "show": cmd_show, "status": cmd_status,
                    "logs": cmd_logs, "validate": cmd_validate, "accept": cmd_accept, "reject": cmd_reject,
                    "retry": cmd_retry, "cancel": cmd_cancel, "import": cmd_import, "pause": cmd_pause,
                    "resume": cmd_resume, "stop": cmd_stop, "history": cmd_history, "stats": cmd_stats,
                    "dashboard": cmd_dashboard}


if __name__ == "__main__":
    sys.exit(main())
