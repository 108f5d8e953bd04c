"""One handler per command: parse what argparse gave, call the API, print the answer.

No rule lives here: what may be enqueued, which state a decision needs and what it does are
in flow/ behind orchestrator.api.Orchestrator; how a result looks is in observe/.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from orchestrator.api import Orchestrator
from orchestrator.base.errors import NotFoundError, StateError, UsageError
from orchestrator.base.records import as_record
from orchestrator.formats import task as taskfmt
from orchestrator.observe import views
from orchestrator.process.instance import running_daemon
from orchestrator.store.attempts import Runs

Handler = Callable[[Orchestrator, argparse.Namespace], int]


def cmd_enqueue(orch: Orchestrator, args: argparse.Namespace) -> int:
    body = args.body
    if args.body_file == "-":
        body = sys.stdin.read()
    elif args.body_file:
        try:
            body = Path(args.body_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--body-file {args.body_file}: cannot read: {exc}") from None
    task = orch.enqueue(args.title, body, task_id=args.task_id, priority=args.priority, role=args.role,
                        agent=args.agent, depends_on=args.depends_on, max_attempts=args.max_attempts)
    print(task.id)
    cfg = orch.config  # (a pin to an agent that does not exist is refused by enqueue itself)
    if cfg.problem:
        running = "a running daemon keeps using the last good one" if running_daemon(cfg.state_dir) else \
            "no agent takes it until the file is fixed"
        print(f"warning: {task.id} is queued, but {cfg.path} is invalid ({running}); "
              "'python -m orchestrator validate' lists every problem", file=sys.stderr)
    elif not task.agent and task.role not in {a.role for a in cfg.agents}:
        print(f"warning: no agent in {cfg.path} has role '{task.role}': {task.id} waits until one does "
              "(add an agent of that role, or enqueue with --role)", file=sys.stderr)
    return 0


def cmd_list(orch: Orchestrator, args: argparse.Namespace) -> int:
    rows = views.list_tasks(orch.queue, args.state, Runs(orch.config.state_dir))
    print(views.dumps(rows) if args.json else views.render_list(rows))
    return 0


def cmd_show(orch: Orchestrator, args: argparse.Namespace) -> int:
    data = as_record(orch.show(args.task_id))
    print(views.dumps(data) if args.json else views.render_show(data))
    return 0


def cmd_status(orch: Orchestrator, args: argparse.Namespace) -> int:
    if args.watch:
        from orchestrator.observe import board  # rich: only for the board
        board.watch(orch.status)
        return 0
    data = orch.status()
    if args.json:
        print(views.dumps(data))
    elif sys.stdout.isatty():
        from orchestrator.observe import board
        board.show(data)
    else:
        print(views.render_status(data))
    return 0


def cmd_logs(orch: Orchestrator, args: argparse.Namespace) -> int:
    runs = Runs(orch.config.state_dir)
    task_id = taskfmt.check_id(args.task_id)
    path = views.log_path(runs, task_id, args.attempt)
    if path is None or not path.exists():
        which = f"attempt {args.attempt}" if args.attempt else "any attempt"
        raise NotFoundError(f"no log for {which} of task '{task_id}' yet")
    if args.follow:
        attempt = runs.get(task_id, int(path.parent.name))
        views.follow(path, lambda: attempt is not None and views.attempt_running(attempt), sys.stdout)
    else:
        views.copy_log(path, sys.stdout)
    return 0


def cmd_validate(orch: Orchestrator, args: argparse.Namespace) -> int:
    from orchestrator.tick.checks import layout_warnings, setup_warnings, validate
    if orch.config.problem:  # every problem of agents.yaml; the task files are still checked below
        print(orch.config.problem, file=sys.stderr)
    problems = validate(orch.config)
    for problem in problems:
        print(problem)
    for warning in layout_warnings(orch.config) + setup_warnings(orch.config):
        print(f"warning: {warning}")
    if orch.config.problem:
        return 2
    if problems:
        return 1
    print(f"{orch.config.path}: ok ({len(orch.config.agents)} agents)")
    return 0


def cmd_accept(orch: Orchestrator, args: argparse.Namespace) -> int:
    decision = orch.accept(args.task_id, merge=args.merge, land=args.land)
    print(f"{decision.task_id}: {decision.state} ({decision.detail})")
    _notes(decision.notes)
    return 0


def cmd_land(orch: Orchestrator, args: argparse.Namespace) -> int:
    def say(line: str) -> None:
        if not args.quiet:
            print(line, flush=True)

    def said_round(report) -> None:
        for line in views.land_round_lines(report, orch.config.base_branch):
            say(line)

    try:
        rounds = orch.land(max_rounds=1 if args.once else None, on_check=lambda c: say(views.check_line(c)),
                           on_round=said_round)
    except StateError:
        if args.quiet:  # started by a tick while another lander runs: that one lands it
            return 0
        raise
    if not any(r.landed or r.returned or r.waiting or r.paused for r in rounds):
        say("nothing to land (landing/ is empty)")
    return 0


def cmd_reject(orch: Orchestrator, args: argparse.Namespace) -> int:
    decision = orch.reject(args.task_id, args.reason)
    print(f"{decision.task_id}: {decision.state}")
    _notes(decision.notes)
    return 0


def _notes(notes: tuple[str, ...]) -> None:
    for note in notes:
        print(f"note: {note}", file=sys.stderr)


def cmd_retry(orch: Orchestrator, args: argparse.Namespace) -> int:
    decision = orch.retry(args.task_id)
    print(f"{decision.task_id}: {decision.state}")
    return 0


def cmd_cancel(orch: Orchestrator, args: argparse.Namespace) -> int:
    decision = orch.cancel(args.task_id)
    print(f"{decision.task_id}: {decision.state} (cancelled)")
    _notes(decision.notes)
    return 0


def cmd_diff(orch: Orchestrator, args: argparse.Namespace) -> int:
    if sys.stdout.isatty() and not args.json:
        sys.stdout.flush()
        return orch.page_diff(args.task_id, stat=args.stat)  # git pages and colours it, as `git diff` would
    found = orch.diff(args.task_id, stat=args.stat)
    if args.json:
        print(views.dumps(as_record(found)))
        return 0
    sys.stdout.write(found.text)
    if found.merged:
        print(f"note: every commit on {found.branch} is on {found.base}: nothing to show", file=sys.stderr)
    return 0


def cmd_checkout(orch: Orchestrator, args: argparse.Namespace) -> int:
    made = orch.checkout(args.task_id)
    print(views.dumps(as_record(made)) if args.json else made.path)  # only the path: cd "$(... checkout ID)"
    if made.note and not args.json:
        print(f"note: {made.note}", file=sys.stderr)
    return 0


def cmd_prune(orch: Orchestrator, args: argparse.Namespace) -> int:
    report = orch.prune(dry_run=args.dry_run)
    print(views.dumps(as_record(report)) if args.json else views.render_prune(as_record(report)))
    return 0


def cmd_pause(orch: Orchestrator, args: argparse.Namespace) -> int:
    print(orch.pause(args.agent))
    return 0


def cmd_resume(orch: Orchestrator, args: argparse.Namespace) -> int:
    print(orch.resume(args.agent))
    return 0


def cmd_stop(orch: Orchestrator, args: argparse.Namespace) -> int:
    from orchestrator.flow.control import stop_all
    from orchestrator.process.instance import stop_daemon
    pid = stop_daemon(orch.config.state_dir)
    print(f"stopped the daemon (pid {pid})" if pid else "no daemon was running")
    if args.kill_agents:
        stopped = stop_all(orch.config, orch.queue)
        print(f"stopped {len(stopped)} running attempt(s); back in incoming/: {', '.join(stopped) or '-'}")
    return 0


def cmd_history(orch: Orchestrator, args: argparse.Namespace) -> int:
    from orchestrator.observe import stats
    events = stats.history(orch.queue.journal, taskfmt.check_id(args.task_id))
    if not events and orch.queue.locate(args.task_id) is None:
        raise NotFoundError(f"no task '{args.task_id}' in {orch.queue.where}, and nothing in its history")
    print(views.dumps(events) if args.json else stats.render_history(args.task_id, events))
    return 0


def cmd_stats(orch: Orchestrator, args: argparse.Namespace) -> int:
    from orchestrator.observe import stats
    data = stats.compute(orch.queue.journal, stats.parse_since(args.since))
    print(views.dumps(data) if args.json else stats.render_stats(data))
    return 0


def cmd_dashboard(orch: Orchestrator, args: argparse.Namespace) -> int:
    from orchestrator.web.dashboard import make_server
    server = make_server(orch.config, args.port)
    print(f"dashboard: {server.url}  (Ctrl-C to stop; the token in this address is what lets the page act, "
          "new at every start)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def cmd_import(orch: Orchestrator, args: argparse.Namespace) -> int:
    report = orch.import_plan(Path(args.file), dry_run=args.dry_run, role=args.role, prefix=args.prefix,
                              sequential=args.sequential)
    print(views.dumps(report.to_json()) if args.json else report.text())
    return 0


HANDLERS: dict[str, Handler] = {
    "enqueue": cmd_enqueue, "list": cmd_list, "show": cmd_show, "status": cmd_status, "logs": cmd_logs,
    "validate": cmd_validate, "accept": cmd_accept, "land": cmd_land, "reject": cmd_reject, "retry": cmd_retry, "cancel": cmd_cancel,
    "import": cmd_import, "pause": cmd_pause, "resume": cmd_resume, "stop": cmd_stop, "history": cmd_history,
    "stats": cmd_stats, "dashboard": cmd_dashboard, "diff": cmd_diff, "checkout": cmd_checkout, "prune": cmd_prune,
}
