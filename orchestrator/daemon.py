"""The daemon: a loop over Scheduler.loop(), woken early by news.

APScheduler owns the interval (one job, max_instances=1, coalesce, no misfire grace
limit, so a late tick is run rather than silently dropped); the job only sets an event.
The main thread waits on that event and also checks, a few times a second, the cheap
signs of news: the wake file that runners and CLI commands touch, and the modification
time of incoming/ and agents.yaml. Signal handlers only set flags.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler

from orchestrator import log
from orchestrator.errors import OrchestratorError
from orchestrator.locks import FileLock
from orchestrator.scheduler import Scheduler
from orchestrator.startup import consumer_warnings
from orchestrator.wake import wake_path

_log = log.get("orchestrator.daemon")
NEWS_POLL_SECONDS = 0.1


class AlreadyRunning(OrchestratorError):
    exit_code = 3


class Daemon:
    def __init__(self, scheduler: Scheduler):
        self.scheduler = scheduler
        state_dir = scheduler.config.state_dir
        self.lock = FileLock(state_dir / "locks" / "daemon.lock")
        self.pid_file = state_dir / "daemon.pid"
        self.wake = threading.Event()
        self.stopping = False
        self._news_marks: tuple = ()

    def request_stop(self, *_args) -> None:
        self.stopping = True
        self.wake.set()

    def request_tick(self, *_args) -> None:
        self.wake.set()

    def run(self) -> int:
        if not self.lock.acquire():
            pid = self.pid_file.read_text().strip() if self.pid_file.exists() else "unknown"
            raise AlreadyRunning(f"a daemon is already running for {self.scheduler.config.state_dir} "
                                 f"(pid {pid}); stop it with 'python -m orchestrator stop'")
        self.pid_file.write_text(f"{os.getpid()}\n")
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGHUP, self.request_tick)
        interval = BackgroundScheduler(daemon=True)
        interval.add_job(self.request_tick, "interval", seconds=self.scheduler.config.tick_seconds,
                         max_instances=1, coalesce=True, misfire_grace_time=None, id="tick")
        interval.start()
        _log.info("daemon_started", pid=os.getpid(), state_dir=str(self.scheduler.config.state_dir))
        for warning in consumer_warnings(self.scheduler.config, self.scheduler.queue):
            _log.warning("nobody_consumes", detail=warning)
        try:
            self._serve()
        finally:
            interval.shutdown(wait=False)
            try:
                self.pid_file.unlink()
            except FileNotFoundError:
                pass
            self.lock.release()
            _log.info("daemon_stopped", pid=os.getpid())
        return 0

    def _serve(self) -> None:
        self._news()
        self.wake.set()
        while not self.stopping:
            if self.wake.wait(NEWS_POLL_SECONDS) or self._news():
                self.wake.clear()
                if self.stopping:
                    break
                try:
                    self.scheduler.loop()
                except OrchestratorError as exc:
                    _log.error("tick_failed", error=str(exc))
                except Exception:
                    _log.exception("tick_crashed")
                    time.sleep(1.0)  # do not spin on a persistent bug

    def _news(self) -> bool:
        """True when something changed that may mean work: a poke, a new file, a new config."""
        cfg = self.scheduler.config
        marks = tuple(_mtime(p) for p in (wake_path(cfg.state_dir), cfg.queue_dir / "incoming", cfg.path,
                                           cfg.queue_dir / "done"))
        changed = marks != self._news_marks
        self._news_marks = marks
        return changed


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0
