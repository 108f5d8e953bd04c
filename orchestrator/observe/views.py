"""Read-only views of the queue and the attempt records: list, show, status, logs.

Observers only read; each view builds a plain dict (the stable --json shape, documented in
docs/CLI.md) and a text rendering of it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TextIO

import psutil

from orchestrator.base import durable
from orchestrator.base.bounded import tail_lines
from orchestrator.base.clock import for_people, iso, parse_iso, utcnow
from orchestrator.flow import graph
from orchestrator.flow.land import Round as LandRound
from orchestrator.flow.landcheck import CheckResult
from orchestrator.formats.agent_output import strip_ansi
from orchestrator.formats.config import Config
from orchestrator.formats.layout import StateDir
from orchestrator.formats.task import Task
from orchestrator.process import tree
from orchestrator.process.instance import running_daemon
from orchestrator.store.agentbook import AgentBook
from orchestrator.store.attempts import Attempt, Runs
from orchestrator.store.backend import QueueBackend, index_of
from orchestrator.store.records import STATES


def task_row(task: Task, state: str, runs: Runs | None = None) -> dict:
    """attempts: those that count toward max_attempts (failures); attempts_run: every attempt started."""
    return {"id": task.id, "state": state, "title": task.title, "role": task.role, "priority": task.priority,
            "agent": task.agent, "attempts": task.attempts,
            "attempts_run": runs.count(task.id) if runs else task.attempts, "depends_on": list(task.depends_on),
            "created": iso(task.created) if task.created else None,
            "retry_after": iso(task.retry_after) if task.retry_after else None,
            "last_error": task.last_error, "blocked_reason": task.blocked_reason}


def list_tasks(queue: QueueBackend, state: str | None, runs: Runs | None = None) -> list[dict]:
    rows = []
    for name in ([state] if state else STATES):
        for listed in queue.listing(name):
            if listed.task is not None:
                rows.append(task_row(listed.task, name, runs))
            else:
                rows.append({"id": listed.id, "state": name, "error": listed.error})
    return rows


def render_list(rows: list[dict]) -> str:
    if not rows:
        return "no tasks"
    width = max(len("ID"), *(len(r["id"]) for r in rows))  # ids are copied from here: never cut
    roles = max(len("ROLE"), *(len(r.get("role") or "") for r in rows))
    lines = [f"{'ID':<{width}}  {'STATE':<11}  {'PRI':<3}  {'ROLE':<{roles}}  {'RUNS':>4}  TITLE"]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['id']:<{width}}  {r['state']:<11}  !!! {r['error']}")
            continue
        lines.append(f"{r['id']:<{width}}  {r['state']:<11}  {r['priority']:<3}  {r['role']:<{roles}}  "
                     f"{r['attempts_run']:>4}  {r['title']}")
    return "\n".join(lines)


def attempt_rows(runs: Runs, task_id: str) -> list[dict]:
    rows = []
    for attempt in runs.attempts(task_id):
        spec, owner, result = attempt.spec(), attempt.owner() or {}, attempt.result()
        rows.append({
            "attempt": attempt.number, "agent": spec.agent if spec else None,
            "claimed_at": spec.claimed_at if spec else None, "runner_pid": owner.get("pid"),
            "outcome": result.outcome if result else None, "reason": result.reason if result else None,
            "finished_at": result.finished_at if result else None,
            "resume_at": result.resume_at if result else None,  # a usage limit: when the agent may run again
            "input_tokens": result.input_tokens if result else None,
            "output_tokens": result.output_tokens if result else None,
            "cost_usd": result.cost_usd if result else None, "model": result.model if result else None,
            "log": str(attempt.log_path),
            "leftover_patch": str(attempt.leftover_path) if attempt.leftover_path.exists() else None,
        })
    return rows


def show_task(cfg: Config, queue: QueueBackend, task_id: str) -> dict:
    state, task = queue.read(task_id)
    runs = Runs(cfg.state_dir)
    row = task_row(task, state, runs)
    worktree = StateDir(cfg.state_dir).worktree(task_id)
    review_worktree = StateDir(cfg.state_dir).review_worktree(task_id)
    row_runs = attempt_rows(runs, task_id)
    row.update(body=task.body, branch=cfg.branch_of(task_id), file=queue.location(state, task_id),
               worktree=str(worktree) if worktree.exists() else None, runs=row_runs,
               review_worktree=str(review_worktree) if review_worktree.exists() else None,
               parent=task.parent, subtasks=list(task.subtasks),
               cost_usd=round(sum(r["cost_usd"] or 0.0 for r in row_runs), 6),
               tokens=sum((r["input_tokens"] or 0) + (r["output_tokens"] or 0) for r in row_runs),
               waiting_for=[{"id": d, "state": queue.locate(d)} for d in task.depends_on + task.subtasks
                            if queue.locate(d) != "done"] if state == "blocked" else [])
    return row


def render_show(d: dict, now=None) -> str:
    now = now or utcnow()
    lines = [f"{d['id']}: {d['title']}", f"  state:     {d['state']}", f"  priority:  {d['priority']}   role: {d['role']}"
             + (f"   pinned to: {d['agent']}" if d['agent'] else ""),
             f"  attempts:  {d['attempts_run']} run, {d['attempts']} counted toward the limit (failures count; "
             "a success, a usage limit or a stop does not)", f"  branch:    {d['branch']}",
             f"  worktree:  {d['worktree'] or '-'}", f"  file:      {d['file']}"]
    if d.get("review_worktree"):
        lines.append(f"  checkout:  {d['review_worktree']} (yours, from 'checkout {d['id']}')")
    if d["depends_on"]:
        lines.append(f"  depends on: {', '.join(d['depends_on'])}")
    if d["retry_after"]:
        lines.append(f"  retry:     {for_people(d['retry_after'], now)}")
    if d["blocked_reason"]:
        lines.append(f"  blocked:   {d['blocked_reason']}")
    for w in d.get("waiting_for", []):
        why = {"failed": ", which failed (retry it, or cancel this task)", None: ", which does not exist"}.get(
            w["state"], f" (in {w['state']}/)")
        lines.append(f"  waiting for {w['id']}{why}")
    if d["last_error"]:
        lines.append(f"  last error: {d['last_error']}")
    if d.get("tokens"):
        lines.append(f"  used:      {d['tokens']} tokens, ${d['cost_usd']:.4f} (as the agent CLIs report it)")
    if d["runs"]:
        lines.append("  runs:")
        for r in d["runs"]:
            lines.append(f"    #{r['attempt']} {r['agent'] or '?'} claimed {for_people(r['claimed_at'], now, never='?')}: "
                         f"{r['outcome'] or 'running'}" + (f" ({r['reason']})" if r["reason"] else ""))
            if r.get("input_tokens") is not None:
                cost = f", ${r['cost_usd']:.4f}" if r.get("cost_usd") is not None else ""
                lines.append(f"       used: {r['input_tokens']} tokens in, {r['output_tokens']} out{cost}"
                             + (f" ({r['model']})" if r.get("model") else ""))
            lines.append(f"       log: {r['log']}")
            if r.get("leftover_patch"):
                lines.append(f"       set aside at its start (an earlier attempt's uncommitted changes): {r['leftover_patch']}")
    return "\n".join(lines)


def status(cfg: Config, queue: QueueBackend) -> dict:
    runs = Runs(cfg.state_dir)
    running = []
    now = utcnow()
    for task_id in queue.claimed_here():  # (another machine's: under "machines")
        attempt = runs.latest(task_id)
        spec = attempt.spec() if attempt else None
        owner = (attempt.owner() or {}) if attempt else {}
        since = parse_iso(owner.get("since")) if owner else None
        alive = tree.is_alive(tree.Identity.from_record(owner))
        usage = agent_tree_usage(attempt) if attempt else {}
        running.append({"task": task_id, "title": spec.title if spec else None, "agent": spec.agent if spec else None,
                        "attempt": attempt.number if attempt else None, "pid": owner.get("pid"),
                        "since": owner.get("since"), "runner_alive": alive,
                        "elapsed_seconds": round((now - since).total_seconds(), 1) if since else None,
                        "timeout_seconds": spec.timeout_seconds if spec else None,
                        "last_output": last_line(attempt.log_path) if attempt else None, **usage})
    last_tick = durable.read_json(StateDir(cfg.state_dir).last_tick)
    book = AgentBook(cfg.state_dir)
    pause = StateDir(cfg.state_dir).pause_file
    config_status = durable.read_json(StateDir(cfg.state_dir).config_status) or {"ok": True, "error": None}
    return {"counts": {state: queue.count(state) for state in STATES}, "running": running,
            "needs_you": needs_you(queue) + nobody_takes(cfg, queue) + agents_needing_you(cfg, book, now),
            "blocked_by_failed": blocked_by_failed(queue),
            "merge_queue": merge_queue(cfg, queue),
            "machines": queue.machines(),  # a shared queue: every machine's daemons and running tasks
            "invalid": [{"file": name, "reason": reason} for name, reason in queue.invalid_files()],
            "agents": [{"name": a.name, "role": a.role, "max_concurrent": a.max_concurrent,
                        "paused": bool(a.paused or book.paused(a.name, now, a.provider)),
                        "paused_reason": ("paused: true in agents.yaml" if a.paused else book.paused(a.name, now, a.provider)),
                        "paused_in_config": a.paused}  # (resume cannot undo that one: the file must change)
                       for a in cfg.agents],
            "paused_all": pause.read_text().strip() if pause.exists() else None,
            "daemon_pid": running_daemon(cfg.state_dir),
            "config_ok": cfg.problem is None and bool(config_status.get("ok", True)),
            "config_error": cfg.problem or config_status.get("error"),
            "last_tick": last_tick.get("at") if last_tick else None, "config": str(cfg.path)}


def merge_queue(cfg: Config, queue: QueueBackend) -> dict | None:
    """The merge queue at a glance: how many wait to land, and the lander working on them (or None)."""
    if cfg.merge != "queue" and not queue.count("landing"):
        return None
    lander = durable.read_json(StateDir(cfg.state_dir).land_status) or {}
    pid = lander.get("pid")
    alive = isinstance(pid, int) and psutil.pid_exists(pid)
    return {"waiting": queue.count("landing"), "lander_pid": pid if alive else None,
            "lander_since": lander.get("since") if alive else None, "check": list(cfg.check) if cfg.check else None}


def agent_tree_usage(attempt) -> dict:
    """CPU seconds and resident memory of the agent's process tree, while it runs."""
    record = attempt.agent_record() or {}
    try:
        used = tree.usage(int(record["pid"]))
    except (KeyError, ValueError):
        used = None
    if used is None:
        return {"cpu_seconds": None, "rss_mb": None}
    return {"cpu_seconds": round(used.cpu_seconds, 1), "rss_mb": round(used.rss_bytes / 1024 / 1024, 1)}


def last_line(path: Path) -> str | None:
    lines = [clean for line in tail_lines(path, 2048) if (clean := strip_ansi(line).strip())]
    return lines[-1][:200] if lines else None


def agents_needing_you(cfg: Config, book: AgentBook, now) -> list[dict]:
    """Agents stopped until a person acts: a spent daily budget, a command that keeps failing to start.
    (A usage-limit cooldown ends by itself; a pause a person made, they know about.)"""
    rows = []
    for agent in cfg.agents:
        reason = book.paused(agent.name, now)
        if reason and book.get(agent.name).needs_person:
            rows.append({"task": f"agent {agent.name}", "state": "paused", "title": agent.name, "why": reason})
    return rows


def nobody_takes(cfg: Config, queue: QueueBackend, limit: int = 10) -> list[dict]:
    """Tasks in incoming/ that no agent of agents.yaml may take: they would wait forever."""
    if cfg.problem:
        return []  # the agents are unknown while agents.yaml is invalid: the CONFIG INVALID line says why
    roles, names = {a.role for a in cfg.agents}, {a.name for a in cfg.agents}
    rows = []
    # The tick's own summaries (read-only here: the index file is the tick's to write).
    entries, _ = index_of(queue, StateDir(cfg.state_dir).index).scan("incoming")
    for entry in sorted(entries, key=lambda e: e.id):
        if entry.agent and entry.agent not in names:
            why = f"pinned to agent '{entry.agent}', which agents.yaml does not define"
        elif not entry.agent and entry.role not in roles:
            why = f"no agent has role '{entry.role}': add one, or re-enqueue it with another role"
        else:
            continue
        try:  # only the few that wait forever are read whole, for their titles
            found = queue.get(entry.id, "incoming")
        except (OSError, ValueError):
            found = None
        title = found.title if found else entry.id
        rows.append({"task": entry.id, "state": "incoming", "title": title, "why": why})
        if len(rows) >= limit:
            break
    return rows


def needs_you(queue: QueueBackend, limit: int = 10) -> list[dict]:
    """What waits for a person, most actionable first: reviews, held tasks, failures."""
    rows = []
    for state in ("provisional", "blocked", "failed"):
        for listed in queue.listing(state, limit=limit * 3):
            task = listed.task
            if task is None:
                continue
            if state == "blocked" and not task.blocked_reason:
                continue  # waiting for dependencies, not for a person
            why = {"provisional": "review it: accept ID [--merge] or reject ID --reason ...",
                   "blocked": task.blocked_reason or "",
                   "failed": ((task.last_error or "").splitlines() or [""])[-1]}[state]
            rows.append({"task": task.id, "state": state, "title": task.title, "why": why})
            if sum(1 for r in rows if r["state"] == state) >= limit:
                break
    return rows


def blocked_by_failed(queue: QueueBackend) -> int:
    """Blocked tasks that wait for a task in failed/: they need a person."""
    return sum(1 for e in graph.blocked_entries(queue) if graph.failed_dependencies(queue, e.waits_for))


def render_status(d: dict, now=None) -> str:
    counts = "  ".join(f"{state} {n}" for state, n in d["counts"].items())
    lines = [f"queue: {counts}", f"last tick: {for_people(d['last_tick'], now or utcnow())}"]
    if d.get("invalid"):
        lines.append(f"quarantined (queue/invalid/, not tasks until fixed): {len(d['invalid'])}")
        for item in d["invalid"][:10]:
            lines.append(f"  {item['file']}: {item['reason']}")
    mq = d.get("merge_queue")
    if mq and (mq["waiting"] or mq["lander_pid"]):
        who = (f"landing now (pid {mq['lander_pid']}, since {for_people(mq['lander_since'], now or utcnow())})"
               if mq["lander_pid"] else "no lander while all is paused ('resume' lets it land)" if d["paused_all"]
               else "no lander running: the daemon starts one, or run 'land'")
        lines.append(f"merge queue: {mq['waiting']} waiting to land; {who}")
    if d.get("blocked_by_failed"):
        lines.append(f"blocked by a failed dependency: {d['blocked_by_failed']} (see 'list blocked')")
    if d.get("needs_you"):
        lines.append("needs you:")
        width = max(len(r["task"]) for r in d["needs_you"])
        for r in d["needs_you"]:
            lines.append(f"  {r['task']:<{width}}  {r['state']:<11}  {r['title']}  -- {r['why']}")
    if d["running"]:
        lines.append("running:")
        for r in d["running"]:
            elapsed = f"{r['elapsed_seconds']:.0f}s" if r["elapsed_seconds"] is not None else "starting"
            limit = f"/{r['timeout_seconds']:.0f}s" if r["timeout_seconds"] else ""
            usage = (f"  cpu {r['cpu_seconds']}s mem {r['rss_mb']} MB" if r.get("rss_mb") is not None else "")
            lines.append(f"  {r['agent'] or '?':<14} {r['task']:<28} attempt {r['attempt']}  pid {r['pid'] or '-'}  "
                         f"{elapsed}{limit}{usage}  {r['title'] or ''}")
            if r.get("last_output"):
                lines.append(f"      > {r['last_output']}")
    else:
        lines.append("running: nothing")
    lines.append(f"agents: {len(d['agents'])}")
    for a in d["agents"]:
        if a["paused"]:
            lines.append(f"  {a['name']} paused: {a['paused_reason']}")
    if d["paused_all"]:
        lines.append(f"ALL PAUSED: {d['paused_all']} ('python -m orchestrator resume' to continue)")
    daemon = d["daemon_pid"]
    lines.append(f"daemon: {'running, pid ' + str(daemon) if daemon else 'not running'}")
    if not d["config_ok"]:
        lines.append(config_problem(d))
    return "\n".join(lines)


def config_problem(d: dict) -> str:
    """What an invalid agents.yaml means now: a running daemon keeps the last good one; none runs otherwise."""
    if d["daemon_pid"]:
        return f"CONFIG INVALID (the daemon keeps running on the last good one): {d['config_error']}"
    return (f"CONFIG INVALID: {d['config_error']} (nothing runs until it is fixed; "
            "'python -m orchestrator validate' lists every problem)")


def attempt_running(attempt: Attempt) -> bool:
    """Is the attempt still going (no result yet, and its runner alive or not started yet)?"""
    if attempt.result() is not None:
        return False
    owner = attempt.owner()
    return owner is None or tree.is_alive(tree.Identity.from_record(owner))


def copy_log(path: Path, out: TextIO, chunk: int = 1 << 16) -> None:
    """Write a log to out in chunks: a log of many gigabytes costs no more memory than a small one."""
    with open(path, "rb") as fh:
        while data := fh.read(chunk):
            out.write(data.decode(errors="replace"))


def log_path(runs: Runs, task_id: str, attempt_number: int | None) -> Path | None:
    attempt = runs.get(task_id, attempt_number) if attempt_number else runs.latest(task_id)
    return attempt.log_path if attempt else None


def follow(path: Path, still_running, out, poll: float = 0.2) -> None:
    """Copy path to out as it grows, until still_running() is false and the file is read to its end."""
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(65536)
            if chunk:
                out.write(chunk.decode(errors="replace"))
                out.flush()
                continue
            if not still_running():
                rest = fh.read()
                if rest:
                    out.write(rest.decode(errors="replace"))
                return
            time.sleep(poll)


def dumps(data) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str)




def check_line(result: CheckResult) -> str:
    verdict = "passed" if result.passed else f"FAILED: {result.summary}"
    return f"  check on {result.commit[:12]} {verdict} (log: {result.log_path})"


def land_round_lines(report: LandRound, base_branch: str) -> list[str]:
    """What one merge-queue round did, for people."""
    lines = []
    if report.landed:
        where = f" ({base_branch} at {report.base[:12]})" if report.base else ""
        lines.append(f"landed: {', '.join(report.landed)}{where}")
    for task_id, why in report.returned:
        lines.append(f"sent back: {task_id}: {why.splitlines()[0] if why else ''}")
    if report.deferred and not report.waiting:
        lines.append(f"next round: {', '.join(report.deferred)} (conflicts with the batch ahead of it)")
    if report.waiting:
        lines.append(f"waiting: {report.waiting}")
    if report.paused:
        lines.append(f"paused: {report.paused}")
    if report.checks:
        lines.append(f"checks run: {report.checks}")
    return lines


def render_prune(report: dict) -> str:
    """prune's report for people: what went (or would), then what stayed and why."""
    gone = ("would delete", "would remove") if report["dry_run"] else ("deleted", "removed")
    lines = []
    for item in report["deleted"]:
        if item["kind"] == "branch":
            lines.append(f"{gone[0]} branch {item['name']} (was {item['commit'][:12]}): {item['reason']}")
        else:
            lines.append(f"{gone[1]} review worktree {item['name']}: {item['reason']}")
    for item in report["kept"]:
        what = "branch" if item["kind"] == "branch" else "review worktree"
        lines.append(f"kept {what} {item['name']}: {item['reason']}")
    branches = sum(1 for i in report["deleted"] if i["kind"] == "branch")
    summary = (f"{gone[0]} {branches} branch(es), {gone[1]} {len(report['deleted']) - branches} review "
               f"worktree(s); kept {len(report['kept'])}")
    lines.append(summary + (" (--dry-run: nothing was changed)" if report["dry_run"] else ""))
    return "\n".join(lines)
