"""The status board on a terminal: rich tables in colour, refreshed in place with --watch.

Piped output gets the plain text of views.render_status; --json the stable dict. Everything an agent or
a task file wrote goes in as Text, never as markup: '[test-agent]' in a title stays on the board.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from orchestrator.base.clock import for_people, utcnow
from orchestrator.observe.views import config_problem

STATE_STYLE = {"blocked": "yellow", "incoming": "cyan", "claimed": "bold blue", "provisional": "magenta",
               "done": "green", "failed": "red"}


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def render(d: dict) -> Group:
    parts: list = []
    counts = Text("  ").join(Text(f"{state} {n}", style=STATE_STYLE.get(state, "")) for state, n in d["counts"].items())
    header = Text.assemble(("orchestrator ", "bold"), counts)
    parts.append(header)
    if not d["config_ok"]:
        parts.append(Text(config_problem(d), style="bold red"))
    if d["paused_all"]:
        parts.append(Text(f"ALL PAUSED: {d['paused_all']} (python -m orchestrator resume)", style="bold yellow"))
    if d["needs_you"] or d.get("blocked_by_failed"):
        table = Table(title="needs you", title_style="bold magenta", show_edge=False, expand=True)
        for column in ("task", "state", "title", "what to do / why"):
            table.add_column(column, overflow="fold")
        for row in d["needs_you"]:
            table.add_row(Text(row["task"]), Text(row["state"], style=STATE_STYLE.get(row["state"], "")),
                          Text(row["title"]), Text(row["why"]))
        if d.get("blocked_by_failed"):
            table.add_row("", Text("blocked", style="yellow"), f"{d['blocked_by_failed']} task(s) wait for a failed "
                          "dependency", "retry or cancel the failed task")
        parts.append(table)
    table = Table(title="running", title_style="bold blue", show_edge=False, expand=True)
    for column in ("agent", "task", "elapsed / timeout", "cpu", "mem", "last output"):
        table.add_column(column, overflow="ellipsis", no_wrap=column != "last output")
    for r in d["running"]:
        elapsed = _duration(r["elapsed_seconds"])
        limit = _duration(r["timeout_seconds"])
        late = r["elapsed_seconds"] and r["timeout_seconds"] and r["elapsed_seconds"] > 0.8 * r["timeout_seconds"]
        table.add_row(Text(r["agent"] or "?"), Text(f"{r['task']}  {r['title'] or ''}"),
                      Text(f"{elapsed} / {limit}", style="red" if late else ""),
                      f"{r['cpu_seconds']}s" if r.get("cpu_seconds") is not None else "-",
                      f"{r['rss_mb']} MB" if r.get("rss_mb") is not None else "-",
                      Text(r.get("last_output") or "", style="dim"))
    if not d["running"]:
        table.add_row("", Text("nothing is running", style="dim"), "", "", "", "")
    parts.append(table)
    paused = [a for a in d["agents"] if a["paused"]]
    agents = Text(f"agents: {len(d['agents'])}")
    for a in paused:
        agents.append(f"\n  {a['name']} paused: {a['paused_reason']}", style="yellow")
    parts.append(agents)
    if d.get("invalid"):
        parts.append(Text(f"quarantined in queue/invalid/: {len(d['invalid'])} (see 'validate')", style="red"))
    if d.get("machines"):  # a queue shared by several machines: each one's daemons and running tasks
        machines = Text("machines:")
        now = utcnow()
        for m in d["machines"]:
            seen = max((x["seen"] for x in m["daemons"]), default=None)
            daemons = f"{len(m['daemons'])} daemon(s), last seen {for_people(seen, now)}" if seen else "no daemon"
            running = ", ".join(r["task"] for r in m["running"][:8]) + (" ..." if len(m["running"]) > 8 else "")
            machines.append(f"\n  {m['machine']}: {daemons}; running {len(m['running'])}" +
                            (f" ({running})" if running else ""))
        parts.append(machines)
    daemon = f"daemon pid {d['daemon_pid']}" if d["daemon_pid"] else "no daemon running"
    parts.append(Text(f"{daemon} · last tick {for_people(d['last_tick'], utcnow())}", style="dim"))
    return Group(*parts)


def show(d: dict, console: Console | None = None) -> None:
    (console or Console()).print(render(d))


def watch(compute: Callable[[], dict], interval: float = 1.0) -> None:
    with Live(render(compute()), refresh_per_second=4, screen=False) as live:
        try:
            while True:
                time.sleep(interval)
                live.update(render(compute()))
        except KeyboardInterrupt:
            pass
