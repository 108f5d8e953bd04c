"""The daemon: a loop over `iteration(now)`, woken early by news.

The interval is kept on the monotonic clock (the next tick is due tick_seconds after the last one
began), so a wall-clock step, backward or forward, or a laptop's sleep never stalls or bunches the
ticks; the wall clock only stamps them (`clock`, injectable for tests). (APScheduler 3, used here
before, schedules on the wall clock: after a one-hour step back its next run was an hour away.)
News wakes the loop at once: a datagram on the wake socket from a runner or CLI command (wake.py), file
events (watchfiles) on queue/incoming/, agents.yaml and the wake file. A cheap stat of those
paths once a second stands in if file events are unavailable. Signal handlers only set flags. agents.yaml is re-read when
it changes and on SIGHUP; an invalid file is reported and the last good one stays in force.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from orchestrator.base import durable, log
from orchestrator.base.clock import iso, utcnow
from orchestrator.base.errors import ConfigError, OrchestratorError
from orchestrator.base.locks import FileLock
from orchestrator.formats import config as configmod
from orchestrator.formats.layout import StateDir
from orchestrator.process.instance import AlreadyRunning, daemon_lock_path, daemon_pid_path
from orchestrator.process.wake import WakeListener, wake_path
from orchestrator.tick.checks import consumer_warnings
from orchestrator.tick.scheduler import Scheduler, TickReport

_log = log.get("orchestrator.daemon")
FALLBACK_POLL_SECONDS = 1.0
SIGNAL_CHECK_SECONDS = 0.2  # how soon a signal's flag is seen


def config_status_path(state_dir: Path) -> Path:
    return StateDir(state_dir).config_status


class Daemon:
    def __init__(self, scheduler: Scheduler, *, clock: Callable[[], datetime] = utcnow):
        self.scheduler = scheduler
        self.clock = clock  # the wall clock that stamps each tick; intervals use time.monotonic()
        self.next_tick = 0.0  # monotonic: when the interval next asks for a tick
        state_dir = scheduler.config.state_dir
        self.lock = FileLock(daemon_lock_path(state_dir))
        self.pid_file = daemon_pid_path(state_dir)
        self.wake = threading.Event()
        self.stopping = False
        self.reload_requested = False
        self._marks: tuple = ()
        self._config_mark = _mark(scheduler.config.path)
        self._watcher_stop = threading.Event()

    # ---- signal handlers: flags only ------------------------------------------------

    # Only flags: Event.set() takes a lock, and a handler that runs while the main thread holds that
    # lock (inside wake.wait()) would wait for itself forever. The loop looks at the flags at least
    # every SIGNAL_CHECK_SECONDS.

    def request_stop(self, *_args) -> None:
        self.stopping = True

    def request_reload(self, *_args) -> None:
        self.reload_requested = True

    # ---- life -----------------------------------------------------------------------

    def run(self) -> int:
        if not self.lock.acquire(timeout=0):
            pid = self.pid_file.read_text().strip() if self.pid_file.exists() else "unknown"
            raise AlreadyRunning(f"a daemon is already running for {self.scheduler.config.state_dir} "
                                 f"(pid {pid}); stop it with 'python -m orchestrator stop'")
        durable.write_atomic(self.pid_file, f"{os.getpid()}\n")
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGHUP, self.request_reload)
        watcher = threading.Thread(target=self._watch, name="file-events", daemon=True)
        watcher.start()
        # PostgreSQL: LISTEN for tasks entering incoming/ on any machine (the file queue returns at once).
        threading.Thread(target=self.scheduler.queue.watch, args=(self.wake.set, self._watcher_stop),
                         name="queue-news", daemon=True).start()
        listener = WakeListener(self.scheduler.config.state_dir, self.wake.set)
        self._record_config(None)
        _log.info("daemon_started", pid=os.getpid(), state_dir=str(self.scheduler.config.state_dir))
        for warning in consumer_warnings(self.scheduler.config, self.scheduler.queue):
            _log.warning("nobody_consumes", detail=warning)
        try:
            self._serve()
        finally:
            self._watcher_stop.set()
            listener.close()
            self.scheduler.close()
            try:
                self.pid_file.unlink()
            except FileNotFoundError:
                pass
            self.lock.release()
            _log.info("daemon_stopped", pid=os.getpid())
        return 0

    def _serve(self) -> None:
        next_look = 0.0  # the fallback's next stat of the watched paths
        while not self.stopping:
            wait = min(SIGNAL_CHECK_SECONDS, max(0.0, self.next_tick - time.monotonic()))
            woken = self.wake.wait(wait) or self.reload_requested
            now = time.monotonic()
            if not woken and now >= next_look:
                next_look = now + FALLBACK_POLL_SECONDS
                woken = self._news()
            if not (woken or now >= self.next_tick) or self.stopping:
                continue
            self.wake.clear()
            self.iteration(self.clock())

    def iteration(self, now: datetime) -> TickReport | None:
        """One pass of the loop: re-read agents.yaml if it changed or SIGHUP asked, then one tick
        stamped `now`; the interval's next tick is due tick_seconds (monotonic) from here."""
        if self.reload_requested or _mark(self.scheduler.config.path) != self._config_mark:
            self._reload()
        self.next_tick = time.monotonic() + self.scheduler.config.tick_seconds
        try:
            return self.scheduler.tick(now)
        except OrchestratorError as exc:
            _log.error("tick_failed", error=str(exc))
        except Exception:
            _log.exception("tick_crashed")
            time.sleep(1.0)  # do not spin on a persistent bug
        return None

    # ---- news ------------------------------------------------------------------------

    def _watched(self) -> tuple[Path, ...]:
        cfg = self.scheduler.config
        return (wake_path(cfg.state_dir), cfg.queue_dir / "incoming", cfg.path)

    def _news(self) -> bool:
        """The fallback: a few stat calls a second, for when file events are not delivered."""
        marks = tuple(_mark(p) for p in self._watched())
        changed = marks != self._marks
        self._marks = marks
        return changed

    def _watch(self) -> None:
        try:
            import watchfiles
        except ImportError:
            _log.warning("file_events_unavailable", reason="watchfiles is not installed; polling once a second")
            return
        cfg = self.scheduler.config
        incoming, wake, config_file = cfg.queue_dir / "incoming", wake_path(cfg.state_dir), cfg.path

        def interesting(_change, path: str) -> bool:
            p = Path(path)
            return p.parent == incoming or p in (wake, config_file)

        try:
            for _changes in watchfiles.watch(incoming, cfg.state_dir, config_file.parent, watch_filter=interesting,
                                             recursive=False, debounce=50, step=20, stop_event=self._watcher_stop,
                                             raise_interrupt=False):
                self.wake.set()
        except Exception:  # the fallback poll keeps the daemon working: record why events stopped
            _log.exception("file_events_failed")

    # ---- configuration ----------------------------------------------------------------

    def _reload(self) -> None:
        self.reload_requested = False
        old = self.scheduler.config
        self._config_mark = _mark(old.path)
        try:
            new = configmod.load(old.path)
            for key in ("queue_dir", "state_dir", "repo", "queue_url"):
                if getattr(new, key) != getattr(old, key):
                    raise ConfigError(f"{old.path}: '{key}' changed; restart the daemon for that to take effect")
        except ConfigError as exc:
            _log.error("config_invalid", error=str(exc), keeping="the last good configuration")
            self._record_config(str(exc))
            self.scheduler.queue.journal.append("config_invalid", actor="daemon", reason=str(exc))
            return
        self.scheduler.config = new
        self._record_config(None)
        self.scheduler.queue.journal.append("config_reloaded", actor="daemon", agents=[a.name for a in new.agents])
        _log.info("config_reloaded", agents=[a.name for a in new.agents])

    def _record_config(self, error: str | None) -> None:
        record = {"ok": error is None, "error": error, "at": iso(utcnow()), "path": str(self.scheduler.config.path)}
        durable.write_json_atomic(config_status_path(self.scheduler.config.state_dir), record)


def _mark(path: Path) -> tuple:
    try:
        info = path.stat()
        return (info.st_ino, info.st_mtime_ns, info.st_size)
    except FileNotFoundError:
        return ()
