"""A queue with something to decide in every state, a dashboard serving it, and a way to post to it."""

from __future__ import annotations

import hashlib
import http.client
import json

import pytest

from orchestrator.web.dashboard import serve_in_background
from orchestrator.web.guard import TOKEN_HEADER


@pytest.fixture
def desk(env):
    """notes, readme and changelog wait for review; fails has failed; later waits in incoming/ for a
    role nobody has; waiting is blocked on notes. main has a readme-1.txt of its own, so landing
    readme's branch (which adds another) conflicts."""
    env.write_config([env.agent("impl-1"), env.agent("flaky", "fail.py", role="risky")], max_attempts=1)
    env.enqueue("notes", "Write the release notes")
    env.enqueue("readme", "Polish the README")
    env.enqueue("changelog", "Update the changelog")
    env.enqueue("fails", "Try the risky thing", role="risky")
    env.drain()
    env.enqueue("later", "Queued for later", priority="P0", role="nobody")
    env.enqueue("waiting", "Waits for the notes", depends_on=("notes",), priority="P1")
    env.queue.transition("waiting", "incoming", "blocked", actor="test")
    (env.repo / "readme-1.txt").write_text("the person's own readme-1.txt\n")
    env.git("add", "readme-1.txt")
    env.git("commit", "-q", "-m", "a readme-1.txt on main")
    server, _ = serve_in_background(env.config, 0)
    yield env, server
    server.shutdown()
    server.server_close()


def post(server, path: str, body=None, *, token: str | None = "right", headers: dict | None = None,
         method: str = "POST", raw: bytes | None = None) -> tuple[int, dict]:
    """A request as the page sends it (JSON, the token, this origin), with any part changed for a test."""
    port = server.server_address[1]
    sent = {"Host": f"127.0.0.1:{port}", "Origin": f"http://127.0.0.1:{port}", "Content-Type": "application/json"}
    if token is not None:
        sent[TOKEN_HEADER] = server.guard.token if token == "right" else token
    sent.update(headers or {})
    sent = {k: v for k, v in sent.items() if v is not None}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, raw if raw is not None else json.dumps(body or {}).encode(), sent)
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(data)
    except ValueError:
        return response.status, {"raw": data.decode(errors="replace")}


def snapshot(env) -> dict[str, str]:
    """Everything a decision could change: each file of the queue and of the state directory (but the
    logs, which say what was refused) by its content, and where every branch points."""
    files = {}
    for root in (env.config.queue_dir, env.config.state_dir):
        for path in sorted(root.rglob("*")):
            if path.is_file() and "logs" not in path.relative_to(root).parts:
                files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    files["refs"] = env.git("for-each-ref", "--format=%(refname) %(objectname)")
    files["checkout"] = env.git("status", "--porcelain")
    return files
