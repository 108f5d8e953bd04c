"""Notifications: commands run on events a person should hear about.

    notify:
      - command: ["my-notifier", "--channel", "dev"]   # the event as JSON on stdin, ORCH_EVENT_* variables
        events: [needs_review, failed]                 # default: all of them
      - desktop: true                                  # notify-send (Linux) or osascript (macOS), if present

The tick delivers them: it reads the event journal from a cursor kept in the state directory
(so a cron tick delivers them too, and nothing is announced twice after a restart), maps
journal events to notification kinds, and starts each notifier detached, so a slow or failing
notifier never holds up the tick; a failure is logged.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from orchestrator.base import durable, log
from orchestrator.base.commands import start_detached
from orchestrator.formats.config import Notifier
from orchestrator.formats.layout import StateDir
from orchestrator.process.agentenv import agent_environment
from orchestrator.store.journal import Journal

_log = log.get("orchestrator.notify")


# Journal events that end an attempt or a decision: the console of the daemon (or of a cron tick)
# shows them as they happen, so a person watching it sees outcomes, not only dispatches.
OUTCOMES = {"succeeded", "retry", "failed", "blocked", "usage_limit", "over_budget", "merge_refused", "accepted",
            "rejected", "review_retry", "cancelled", "stopped", "recovered", "done", "broken_down"}


def report_outcomes(events: list[dict]) -> None:
    for event in events:
        if event.get("event") in OUTCOMES:
            _log.info(f"task_{event['event']}", task=event.get("task"), to=event.get("to"),
                      agent=event.get("agent"), attempt=event.get("attempt"), reason=event.get("reason"))


def kind_of(event: dict) -> str | None:
    name, to = event.get("event"), event.get("to")
    if name == "succeeded" and to == "provisional":
        return "needs_review"
    if to == "failed":
        return "failed"
    if to == "blocked" and name in ("blocked", "merge_refused", "over_budget"):  # each waits for a person
        return "blocked"
    if name in ("agent_paused", "config_invalid"):
        return name
    return None


class Delivery:
    def __init__(self, journal: Journal, state_dir: Path):
        self.journal = journal
        self.cursor_path = StateDir(state_dir).notify_cursor
        self.log_path = StateDir(state_dir).notify_log
        self.spool = StateDir(state_dir).notify_spool
        self.started: dict[int, str] = {}  # notifier pid -> its program, until it is reaped

    def deliver(self, notifiers: tuple[Notifier, ...], children: list) -> int:
        """Start the notifiers for every new event; return how many were started."""
        events = self._new_events()
        report_outcomes(events)
        if not notifiers:
            return 0
        started = 0
        for event in events:
            kind = kind_of(event)
            if kind is None:
                continue
            for notifier in notifiers:
                if kind in notifier.events:
                    child = self._start(notifier, kind, event)
                    if child is not None:
                        children.append(child)
                        started += 1
        return started

    def _new_events(self) -> list[dict]:
        """The events written since the last look (none at the very first: history is not announced)."""
        events, cursor = self.journal.read_new(durable.read_json(self.cursor_path))
        durable.write_cache(self.cursor_path, json.dumps(cursor))
        return events

    def _start(self, notifier: Notifier, kind: str, event: dict):
        payload = {"kind": kind, **event}
        if notifier.desktop:
            argv = desktop_command(kind, event)
            if argv is None:
                return None
        elif notifier.command is not None:
            argv = list(notifier.command)
        else:
            return None
        self.spool.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = agent_environment(os.environ, (), {}, {"ORCH_EVENT": kind, **{
            f"ORCH_EVENT_{k.upper()}": str(v) for k, v in event.items() if isinstance(v, (str, int, float))}})
        with tempfile.TemporaryFile(dir=self.spool) as stdin, open(self.log_path, "ab") as out:
            stdin.write(json.dumps(payload).encode())
            stdin.seek(0)
            try:
                child = start_detached(argv, stdin=stdin, stdout=out, stderr=subprocess.STDOUT, env=env)
            except OSError as exc:
                _log.error("notifier_failed", command=argv[0], kind=kind, error=str(exc))
                return None
        self.started[child.pid] = argv[0]  # for the log line when it exits badly
        return child


def desktop_command(kind: str, event: dict) -> list[str] | None:
    title = f"orchestrator: {kind.replace('_', ' ')}"
    body = " ".join(str(event.get(k)) for k in ("task", "agent", "reason") if event.get(k))[:300]
    if shutil.which("notify-send"):
        return ["notify-send", title, body]
    if shutil.which("osascript"):
        quote = lambda text: text.replace("\\\\", "\\\\\\\\").replace('"', '\\\\"')  # noqa: E731 (AppleScript strings)
        return ["osascript", "-e", f'display notification "{quote(body)}" with title "{quote(title)}"']
    return None
