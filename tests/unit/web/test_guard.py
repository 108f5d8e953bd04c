"""The dashboard's request checks, header by header (guard.py); the HTTP tests show the same refusals
leave the queue untouched."""

from __future__ import annotations

import http.client
import io

import pytest

from orchestrator.web.guard import TOKEN_HEADER, Guard

GUARD = Guard(port=8765, token="s3cret-token")
PAGE = {"Host": "127.0.0.1:8765", "Origin": "http://127.0.0.1:8765", "Content-Type": "application/json",
        TOKEN_HEADER: "s3cret-token"}


def message(changes: dict[str, str | None]) -> http.client.HTTPMessage:
    """The page's headers with some replaced (None: left out), parsed as the server parses them."""
    sent = {**PAGE, **changes}
    raw = "".join(f"{k}: {v}\r\n" for k, v in sent.items() if v is not None) + "\r\n"
    return http.client.parse_headers(io.BytesIO(raw.encode("latin-1")))


def headers(**changes: str | None) -> http.client.HTTPMessage:
    return message({k.replace("_", "-"): v for k, v in changes.items()})


def test_the_pages_own_request_passes():
    assert GUARD.check_change(headers()) is None
    assert GUARD.check_change(headers(Host="localhost:8765", Origin="http://localhost:8765")) is None
    assert GUARD.check_change(headers(Origin=None)) is None  # (not a browser: no Origin to check)
    assert GUARD.check_change(headers(Content_Type="application/json; charset=utf-8")) is None


@pytest.mark.parametrize(("change", "status", "says"), [
    ({TOKEN_HEADER: None}, 403, "token"),
    ({TOKEN_HEADER: "s3cret-tokeN"}, 403, "token"),
    ({TOKEN_HEADER: "s3cret-token-and-more"}, 403, "token"),
    ({TOKEN_HEADER: "s3crét"}, 403, "token"),
    ({"Origin": "http://evil.example"}, 403, "http://evil.example"),
    ({"Origin": "http://127.0.0.1:8766"}, 403, "not from this dashboard"),
    ({"Origin": "https://127.0.0.1:8765"}, 403, "not from this dashboard"),
    ({"Origin": "null"}, 403, "not from this dashboard"),
    ({"Host": "evil.example:8765"}, 403, "Host"),
    ({"Host": "127.0.0.1"}, 403, "Host"),
    ({"Host": None}, 403, "Host"),
    ({"Content-Type": "text/plain"}, 415, "JSON"),
    ({"Content-Type": "multipart/form-data; boundary=x"}, 415, "JSON"),
    ({"Content-Type": None}, 415, "JSON"),
])
def test_anything_else_is_refused(change, status, says):
    refusal = GUARD.check_change(message(change))
    assert refusal is not None and refusal.status == status and says in refusal.reason
    assert "s3cret" not in refusal.reason


def test_reading_checks_only_the_host():
    assert GUARD.check_read(headers(**{TOKEN_HEADER: None}, Origin=None, Content_Type=None)) is None
    assert GUARD.check_read(headers(Host="attacker.example:8765")) is not None


def test_every_start_has_its_own_token():
    assert Guard(port=1).token != Guard(port=1).token and len(Guard(port=1).token) >= 40
    assert "token" not in repr(GUARD) and "s3cret" not in repr(GUARD)
