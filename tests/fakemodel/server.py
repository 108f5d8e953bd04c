"""A fake model server of our own, on loopback, for driving the real agent CLIs in tests.

    def test_x(fake_model):                  # the fixture (tests/conftest.py) stops it after the test
        fake = fake_model(script=["edit"], opts={"commit": True})
        ... point the CLI at fake.url ...
    with FakeModelServer(script=["edit"]) as fake:   # or as a context manager (benchmarks/real_cli.py)
    fake.requests    # every request: method, path, headers (keys redacted), JSON body, mode, main,
                     # t (time.monotonic() on arrival)

It speaks the Gemini API (generateContent / streamGenerateContent, gemini.py), OpenAI Chat
Completions (openai_chat.py; aider's edit formats in aider.py), the OpenAI Responses API
(openai_responses.py, for Codex) and the Anthropic Messages API (anthropic.py, for Claude Code).
A script is a list of modes, one taken per *main* turn (the CLIs make side calls of their own:
gemini's JSON-schema utility calls, opencode's title call, aider's commit-message and summary
calls, Claude Code's tool-less calls; those are
answered normally so a scripted failure reaches the agent's own turn); the last mode repeats:

    edit         make the edit opts names (path, content; commit: also `git commit` through the CLI's
                 shell tool), through the CLI's own tools, then a closing text turn; for aider, one
                 block in the edit format it asked for, and aider commits by itself
    text         just answer
    rate_limit   HTTP 429 with the vendor's real per-minute limit body (and Retry-After)
    usage_limit  HTTP 429 with the vendor's real quota / plan-limit body (variants: see each module)
    overloaded   (Anthropic only) HTTP 529 overloaded_error
    hang         accept the request and never answer (until the client gives up or the server stops)
    error500     HTTP 500 with the vendor's real body
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import aider, anthropic, gemini, openai_chat, openai_responses

SECRET_HEADERS = {"authorization", "x-goog-api-key", "x-api-key"}


class FakeModelServer:
    def __init__(self, script: list[str] | None = None, opts: dict | None = None, hang_seconds: float = 600):
        self.script = list(script or ["text"])
        self.opts = dict(opts or {})
        self.hang_seconds = hang_seconds
        self.requests: list[dict[str, Any]] = []
        self.turns = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-model", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeModelServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def main_turns(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["main"]]

    def _mode_for(self, main: bool) -> str:
        with self._lock:
            if not main:
                return "text"
            mode = self.script[min(self.turns, len(self.script) - 1)]
            self.turns += 1
            return mode

    def _record(self, handler: BaseHTTPRequestHandler, body: Any, mode: str, main: bool) -> None:
        headers = {k: ("<redacted>" if k.lower() in SECRET_HEADERS else v) for k, v in handler.headers.items()}
        with self._lock:
            self.requests.append({"method": handler.command, "path": handler.path, "headers": headers,
                                  "body": body, "mode": mode, "main": main, "t": time.monotonic()})

    def _reply(self, method: str, path: str, query: dict, body: Any, mode: str,
               headers: Any = None) -> gemini.Reply:
        if _is_anthropic(path, headers):
            return anthropic.respond_messages(method, path, body, mode, self.opts)
        if path.rstrip("/") == "/v1/responses" or path.startswith("/v1/responses/"):
            return openai_responses.respond_responses(method, path, body, mode, self.opts)
        if path.startswith("/v1/chat/") or path.rstrip("/") == "/v1/models":
            opts = dict(self.opts)
            opts.setdefault("path_abs", _workdir_path(body, opts.get("path", openai_chat.DEFAULT_EDIT_PATH)))
            return openai_chat.respond_chat(method, path, body, mode, opts)
        return gemini.respond(method, path, query, body, mode, self.opts)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                main = _is_main_turn(url.path, body, self.headers)
                mode = fake._mode_for(main)
                fake._record(self, body, mode, main)
                reply = fake._reply(self.command, url.path, parse_qs(url.query), body, mode, self.headers)
                if reply.hang:
                    fake._stopping.wait(fake.hang_seconds)  # holds the socket, sends nothing
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                if reply.chunks is None:
                    self.send_header("content-length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    return
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for chunk in reply.chunks:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

            do_GET = do_POST = _any

            def log_message(self, *args: Any) -> None:
                return

        return Handler


def _is_anthropic(path: str, headers: Any = None) -> bool:
    """Claude Code's requests: /v1/messages..., or anything carrying an anthropic-version header."""
    return path.startswith("/v1/messages") or bool(headers is not None and headers.get("anthropic-version"))


def _is_main_turn(path: str, body: Any, headers: Any = None) -> bool:
    if _is_anthropic(path, headers):
        return path.rstrip("/") == "/v1/messages" and anthropic.is_main_turn(body)
    if path.rstrip("/") == "/v1/responses":
        return openai_responses.is_main_turn(body)
    if path.startswith("/v1/responses/"):
        return False  # e.g. /v1/responses/compact
    if path.startswith("/v1/chat/"):
        if aider.is_aider_request(body):  # aider: its coder's turns; not commit messages, summaries
            return aider.is_main_turn(body)
        return bool((body or {}).get("tools"))  # opencode's title call offers no tools
    if path.rstrip("/") == "/v1/models":
        return False
    return "streamGenerateContent" in path or ("generateContent" in path and not gemini.is_side_call(body))


def _workdir_path(body: Any, relative: str) -> str | None:
    """An absolute path for an edit: opencode's system prompt states 'Working directory: /...'."""
    if relative.startswith("/"):
        return relative
    for message in (body or {}).get("messages", []):
        content = message.get("content")
        text = content if isinstance(content, str) else json.dumps(content)
        hit = re.search(r"Working directory: (/[^\s<\\]+)", text or "")
        if hit:
            return hit.group(1).rstrip("/") + "/" + relative
    return None
