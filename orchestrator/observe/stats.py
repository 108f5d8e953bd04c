"""History and statistics, computed from the event journal (observers only read)."""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from datetime import datetime, timedelta

from orchestrator.base.clock import for_people, iso, parse_iso, utcnow
from orchestrator.base.errors import UsageError
from orchestrator.store.journal import Journal

SETTLED = {"succeeded", "retry", "failed", "blocked", "usage_limit", "broken_down", "done", "over_budget"}
_SINCE = re.compile(r"^(\d+)\s*([smhdw])$")


def parse_since(text: str | None, now: datetime | None = None) -> datetime | None:
    if not text:
        return None
    match = _SINCE.match(text.strip())
    if match:
        seconds = int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
        return (now or utcnow()) - timedelta(seconds=seconds)
    moment = parse_iso(text) if re.match(r"^\d{4}-\d{2}-\d{2}", text) else None
    if moment is None:
        raise UsageError(f"--since {text!r}: write a duration like 7d, 12h, 30m, or a date like 2026-11-01")
    return moment


def history(journal: Journal, task_id: str) -> list[dict]:
    return [e for e in journal.read() if e.get("task") == task_id]


def render_history(task_id: str, events: list[dict], now: datetime | None = None) -> str:
    if not events:
        return f"no events for task '{task_id}'"
    now = now or utcnow()
    lines = []
    for e in events:
        move = f"{e['from']} -> {e['to']}" if "from" in e and "to" in e else (f"-> {e['to']}" if "to" in e else "")
        who = e.get("actor", "?") + (f" ({e['agent']})" if e.get("agent") else "")
        extra = f" attempt {e['attempt']}" if e.get("attempt") else ""
        reason = f": {e['reason']}" if e.get("reason") else ""
        lines.append(f"{for_people(e.get('ts'), now, never='?'):<22}  {e['event']:<14} {move:<26} {who}{extra}{reason}")
    return "\n".join(lines)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(round(q * (len(values) - 1))))], 1)


def compute(journal: Journal, since: datetime | None = None) -> dict:
    """Per agent and per role: attempts, outcomes, review verdicts, durations, wait before start, tokens
    and cost; and per day (UTC) and agent: tokens and cost."""
    role_of: dict[str, str] = {}
    enqueued: dict[str, datetime] = {}
    started: dict[tuple[str, int], tuple[datetime, str]] = {}
    worker_of: dict[str, str] = {}  # task -> the agent whose work was last submitted for review
    rows: dict[str, dict] = defaultdict(_row)
    by_role: dict[str, dict] = defaultdict(_row)
    days: dict[str, dict[str, dict]] = defaultdict(lambda: defaultdict(_spend))
    for e in journal.read():
        task, kind, ts = e.get("task"), e.get("event"), parse_iso(e.get("ts"))
        if ts is None:
            continue  # a line without a time (written by hand, or cut short): nothing to count
        if kind == "enqueued" and task:
            role_of[task], enqueued[task] = e.get("role", "implement"), ts
            continue
        if since is not None and ts < since:
            continue
        agent = e.get("agent")
        if kind == "started" and task and agent:
            started[(task, e.get("attempt", 0))] = (ts, agent)
            targets = (rows[agent], by_role[role_of.get(task, "?")])
            for t in targets:
                t["attempts"] += 1
            if task in enqueued and e.get("attempt") == 1:
                for t in targets:
                    t["waits"].append((ts - enqueued[task]).total_seconds())
        elif kind in SETTLED and task and agent:
            targets = (rows[agent], by_role[role_of.get(task, "?")])
            if (task, e.get("attempt", 0)) in started:
                begin, _ = started.pop((task, e.get("attempt", 0)))
                for t in targets:
                    t["durations"].append((ts - begin).total_seconds())
            for t in (*targets, days[ts.date().isoformat()][agent]):
                _add_spend(t, e)
            for t in targets:
                if kind in ("succeeded", "done", "broken_down"):
                    t["successes"] += 1
                else:
                    t["failures"][e.get("outcome") or kind] += 1
            if kind == "succeeded":
                worker_of[task] = agent
        elif kind in ("accepted", "rejected") and task in worker_of:
            for t in (rows[worker_of[task]], by_role[role_of.get(task, "?")]):
                t[kind] += 1
    return {"since": iso(since) if since else None,
            "agents": {name: _summary(r) for name, r in sorted(rows.items())},
            "roles": {name: _summary(r) for name, r in sorted(by_role.items())},
            "days": {day: {name: _rounded(spend) for name, spend in sorted(agents.items())}
                     for day, agents in sorted(days.items())}}


def _row() -> dict:
    return {"attempts": 0, "successes": 0, "failures": Counter(), "accepted": 0, "rejected": 0,
            "durations": [], "waits": [], **_spend()}


def _spend() -> dict:
    return {"input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}


def _add_spend(target: dict, event: dict) -> None:
    for key in ("input_tokens", "output_tokens", "cost_usd"):
        value = event.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            target[key] += value


def _rounded(spend: dict) -> dict:
    return {"input_tokens": spend["input_tokens"], "output_tokens": spend["output_tokens"],
            "cost_usd": round(spend["cost_usd"], 6)}


def _summary(row: dict) -> dict:
    d, w = row["durations"], row["waits"]
    return {"attempts": row["attempts"], "successes": row["successes"], "failures": dict(row["failures"]),
            "accepted": row["accepted"], "rejected": row["rejected"], **_rounded(row),
            "duration_seconds": {"median": round(statistics.median(d), 1) if d else None, "p90": _pct(d, 0.9)},
            "wait_before_start_seconds": {"median": round(statistics.median(w), 1) if w else None, "p90": _pct(w, 0.9)}}


def render_stats(data: dict) -> str:
    lines = [f"since {data['since'] or 'the beginning'}"]
    for title, group in (("agent", data["agents"]), ("role", data["roles"])):
        lines.append("")
        lines.append(f"{title.upper():<16} {'ATTEMPTS':>8} {'OK':>5} {'ACCEPT':>7} {'REJECT':>7} "
                     f"{'MEDIAN':>8} {'P90':>8} {'WAIT':>8} {'TOKENS':>9} {'COST':>9}  FAILURES")
        for name, r in group.items():
            fails = ", ".join(f"{k} {v}" for k, v in sorted(r["failures"].items())) or "-"
            dur, wait = r["duration_seconds"], r["wait_before_start_seconds"]
            lines.append(f"{name:<16} {r['attempts']:>8} {r['successes']:>5} {r['accepted']:>7} {r['rejected']:>7} "
                         f"{_s(dur['median']):>8} {_s(dur['p90']):>8} {_s(wait['median']):>8} "
                         f"{_tokens(r):>9} {_cost(r):>9}  {fails}")
    if data.get("days"):
        lines += ["", f"{'DAY':<12} {'AGENT':<16} {'TOKENS':>9} {'COST':>9}"]
        for day, agents in data["days"].items():
            for name, spend in agents.items():
                lines.append(f"{day:<12} {name:<16} {_tokens(spend):>9} {_cost(spend):>9}")
    return "\n".join(lines)


def _tokens(spend: dict) -> str:
    total = spend["input_tokens"] + spend["output_tokens"]
    return f"{total / 1000:.1f}k" if total >= 1000 else str(total)


def _cost(spend: dict) -> str:
    return f"${spend['cost_usd']:.2f}"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"
