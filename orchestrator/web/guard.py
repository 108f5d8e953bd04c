"""Who may talk to the dashboard: the person at this machine, through the page it printed.

Binding to 127.0.0.1 keeps other machines out, not other web pages: any page open in the person's
browser can send requests to 127.0.0.1. So every request is checked here before it is served:

- Host must be 127.0.0.1:PORT or localhost:PORT, on every request: a page on another name that
  resolves to 127.0.0.1 (DNS rebinding) then cannot even read the board.
- A request that changes something (POST) must also carry
  - an Origin, when the browser sends one (it always does on POST), equal to the dashboard's own;
  - Content-Type application/json: an HTML form on another site can only post form encodings or
    text/plain, and a cross-site fetch with JSON needs a CORS preflight this server never grants;
  - the token made at start (secrets.token_urlsafe), in the X-Orchestrator-Token header, compared in
    constant time: only someone who was shown the printed address has it.

A refusal is decided before the body is read and before anything is called, so a refused request
changes nothing.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from email.message import Message

TOKEN_HEADER = "X-Orchestrator-Token"


@dataclass(frozen=True)
class Refusal:
    status: int
    reason: str


@dataclass(frozen=True)
class Guard:
    port: int
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)

    @property
    def hosts(self) -> tuple[str, ...]:
        return (f"127.0.0.1:{self.port}", f"localhost:{self.port}")

    @property
    def origins(self) -> tuple[str, ...]:
        return tuple(f"http://{host}" for host in self.hosts)

    def check_read(self, headers: Message) -> Refusal | None:
        host = (headers.get("Host") or "").strip().lower()
        if host not in self.hosts:
            return Refusal(403, f"refused: Host {host or '(none)'!r} is not this dashboard "
                                f"(open http://127.0.0.1:{self.port}/)")
        return None

    def check_change(self, headers: Message) -> Refusal | None:
        if refusal := self.check_read(headers):
            return refusal
        origin = headers.get("Origin")
        if origin is not None and origin.strip().lower() not in self.origins:
            return Refusal(403, f"refused: a request from {origin!r}, not from this dashboard's own page")
        if headers.get_content_type() != "application/json":  # (no Content-Type reads as text/plain)
            return Refusal(415, "refused: a change is sent as JSON (Content-Type: application/json)")
        given = (headers.get(TOKEN_HEADER) or "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, self.token.encode()):
            return Refusal(403, "refused: no valid token; open the address `dashboard` printed "
                                "(it ends in ?token=...)")
        return None
