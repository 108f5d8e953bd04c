"""`dashboard`: a web page on 127.0.0.1 showing the board, tasks, logs, diffs and stats, with the
person's decisions on it (accept, land, reject, retry, cancel, pause, resume, enqueue).

Plain HTML, CSS and two small scripts served from the package (no build step); the page polls
the JSON endpoints every two seconds. Reading is GET and never changes anything; every change is
a POST that guard.py lets through (Host, Origin, JSON, the start's token) and actions.py turns
into one call of the public facade, `Orchestrator`: the dashboard owns no state change.

    GET /                      the board: a column per state with task cards
    GET /task/<id>             one task: history, runs, live log, diff against the base
    GET /api/status            views.status
    GET /api/board             cards per state
    GET /api/task/<id>         views.show_task plus the history
    GET /api/log/<id>/<n>?offset=K   an attempt's log from byte K
    GET /api/diff/<id>         the task branch against the base branch
    GET /api/stats             stats.compute
    POST /api/...              the actions (actions.py lists them)
"""

from __future__ import annotations

import json
import mimetypes
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlparse

from orchestrator.api import Orchestrator
from orchestrator.base import log
from orchestrator.base.clock import utcnow
from orchestrator.base.errors import GitError, NotFoundError, OrchestratorError, TaskFileError, UsageError
from orchestrator.formats.config import Config
from orchestrator.formats.task import id_problem
from orchestrator.git.view import RepoView
from orchestrator.observe import stats, views
from orchestrator.store.attempts import Runs
from orchestrator.store.backend import QueueBackend, open_queue
from orchestrator.store.records import STATES
from orchestrator.web import actions
from orchestrator.web.guard import Guard, Refusal

LOOPBACK = "127.0.0.1"
_log = log.get("orchestrator.dashboard")
CARDS_PER_COLUMN = 60
MAX_LOG_CHUNK = 256 * 1024
MAX_BODY = 1024 * 1024  # an enqueued task's body is text a person typed


def board(cfg: Config, queue: QueueBackend) -> dict:
    now = utcnow()
    columns = {}
    runs = Runs(cfg.state_dir)
    for state in STATES:
        cards = []
        for listed in queue.listing(state, newest_first=True, limit=CARDS_PER_COLUMN):
            task = listed.task
            if task is None:
                continue
            attempt = runs.latest(task.id)
            spec = attempt.spec() if attempt else None
            age = (now - task.created).total_seconds() if task.created else None
            error_lines = (task.last_error or "").splitlines()
            cards.append({"id": task.id, "title": task.title, "priority": task.priority, "role": task.role,
                          "agent": spec.agent if spec else task.agent, "attempt": attempt.number if attempt else 0,
                          "age_seconds": round(age) if age is not None else None,
                          "reason": task.blocked_reason or (error_lines[-1] if error_lines else None)})
        columns[state] = {"count": queue.count(state), "cards": cards}
    return {"columns": columns}


def http_status(exc: OrchestratorError) -> int:
    """An expected error as the page sees it: 404 unknown, 400 a bad request, 409 refused as things stand."""
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, UsageError | TaskFileError):
        return 400
    return 409  # StateError, MergeRefusedError, ConfigError, GitError...: the request is fine, the world says no


class Handler(BaseHTTPRequestHandler):
    cfg: Config
    queue: QueueBackend
    view: RepoView
    view_lock: threading.Lock
    guard: Guard
    orch: Orchestrator
    act_lock: threading.Lock  # one decision at a time: a person clicks, nothing here needs to race

    def log_message(self, *_args) -> None:  # the server is quiet; the structured log has what matters
        return

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if refusal := self.guard.check_read(self.headers):
            return self.refuse(refusal, url.path)
        if actions.POST_PATHS.fullmatch(url.path):  # an action asked by GET (a link, an <img>): never done
            return self.send_json({"error": "this is an action: send it as a POST from the page"}, status=405,
                                  extra={"Allow": "POST"})
        try:
            self.route(url.path, parse_qs(url.query))
        except OrchestratorError as exc:
            self.send_json({"error": str(exc)}, status=404)
        except Exception as exc:  # a bug must not take the page down: log it, answer 500
            _log.exception("dashboard_error", path=url.path)
            self.send_json({"error": f"{type(exc).__name__}: {exc}"}, status=500)

    def do_POST(self) -> None:
        path = urlparse(self.path).path
        if refusal := self.guard.check_change(self.headers):
            return self.refuse(refusal, path)
        try:
            body = self.read_json()
            with self.act_lock:
                answer = actions.act(self.orch, path, body)
        except OrchestratorError as exc:
            return self.send_json({"error": str(exc)}, status=http_status(exc))
        except Exception as exc:  # logged with its traceback; the page shows the one line
            _log.exception("dashboard_error", path=path)
            return self.send_json({"error": f"{type(exc).__name__}: {exc}"}, status=500)
        _log.info("dashboard_action", path=path, result=answer.get("message"))
        self.send_json(answer)

    def refuse(self, refusal: Refusal, path: str) -> None:
        _log.warning("dashboard_refused", method=self.command, path=path, reason=refusal.reason,
                     origin=self.headers.get("Origin"), host=self.headers.get("Host"))
        self.send_json({"error": refusal.reason}, status=refusal.status)

    def read_json(self) -> dict:
        try:
            length = int(self.headers.get("Content-Length") or "")
        except ValueError:
            raise UsageError("a change needs a Content-Length") from None
        if not 0 <= length <= MAX_BODY:
            raise UsageError(f"the request body is over {MAX_BODY} bytes")
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise UsageError(f"the request body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise UsageError("the request body must be a JSON object")
        return body

    def route(self, path: str, query: dict) -> None:
        if path in ("/", "/index.html"):
            return self.send_static("index.html")
        if path.startswith("/task/"):
            return self.send_static("task.html")
        if path.startswith("/static/"):
            return self.send_static(path[len("/static/"):])
        if path == "/api/status":
            return self.send_json(views.status(self.cfg, self.queue))
        if path == "/api/board":
            return self.send_json(board(self.cfg, self.queue))
        if path == "/api/stats":
            return self.send_json(stats.compute(self.queue.journal))
        if match := re.fullmatch(r"/api/task/([^/]+)", path):
            task_id = self.task_id(match.group(1))
            data = views.show_task(self.cfg, self.queue, task_id)
            data["history"] = stats.history(self.queue.journal, task_id)
            return self.send_json(data)
        if match := re.fullmatch(r"/api/log/([^/]+)/(\d+)", path):
            return self.send_log(self.task_id(match.group(1)), int(match.group(2)),
                                 int(query.get("offset", ["0"])[0] or 0))
        if match := re.fullmatch(r"/api/diff/([^/]+)", path):
            task_id = self.task_id(match.group(1))
            try:
                with self.view_lock:  # GitPython's Repo is not for several threads at once
                    diff = self.view.diff(self.cfg.base_branch, self.cfg.branch_of(task_id))
            except GitError:
                diff = ""
            return self.send_json({"diff": diff[:2_000_000]})
        self.send_json({"error": "not found"}, status=404)

    def task_id(self, raw: str) -> str:
        if id_problem(raw):
            raise OrchestratorError(f"not a task id: {raw!r}")
        return raw

    def send_log(self, task_id: str, number: int, offset: int) -> None:
        attempt = Runs(self.cfg.state_dir).get(task_id, number)
        if attempt is None or not attempt.log_path.exists():
            return self.send_json({"text": "", "offset": 0, "running": False})
        with open(attempt.log_path, "rb") as fh:
            fh.seek(max(0, offset))
            chunk = fh.read(MAX_LOG_CHUNK)
        self.send_json({"text": chunk.decode(errors="replace"), "offset": max(0, offset) + len(chunk),
                        "running": attempt.result() is None})

    def send_static(self, name: str) -> None:
        if not re.fullmatch(r"[a-z]+\.(html|css|js)", name):
            return self.send_json({"error": "not found"}, status=404)
        body = resources.files("orchestrator.web").joinpath(name).read_bytes()
        self.send(body, mimetypes.guess_type(name)[0] or "text/plain")

    def send_json(self, data, status: int = 200, extra: dict[str, str] | None = None) -> None:
        self.send(json.dumps(data, default=str).encode(), "application/json", status, extra)

    def send(self, body: bytes, content_type: str, status: int = 200, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        headers = {"Content-Type": f"{content_type}; charset=utf-8", "Content-Length": str(len(body)),
                   "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                   # no inline script, nothing from elsewhere, never inside another site's frame; the
                   # token in the address never leaves in a Referer
                   "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'",
                   "Referrer-Policy": "no-referrer", **(extra or {})}
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class DashboardServer(ThreadingHTTPServer):
    daemon_threads = True
    guard: Guard

    @property
    def url(self) -> str:
        """The address to open: the token in it is what lets the page act."""
        return f"http://{LOOPBACK}:{self.server_address[1]}/?token={self.guard.token}"


def make_server(cfg: Config, port: int) -> DashboardServer:
    """A server bound to loopback only: the dashboard is for the person at this machine. Its token
    is new at every start."""
    handler: type[Handler] = type("BoundHandler", (Handler,), {
        "cfg": cfg, "queue": open_queue(cfg), "view": RepoView(cfg.repo),
        "view_lock": threading.Lock(), "orch": Orchestrator(config=cfg), "act_lock": threading.Lock()})
    server = DashboardServer((LOOPBACK, port), handler)
    server.guard = handler.guard = Guard(port=server.server_address[1])
    return server


def serve_in_background(cfg: Config, port: int = 0) -> tuple[DashboardServer, threading.Thread]:
    server = make_server(cfg, port)
    thread = threading.Thread(target=server.serve_forever, name="dashboard", daemon=True)
    thread.start()
    return server, thread
