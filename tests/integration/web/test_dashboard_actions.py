"""The dashboard's actions over HTTP: each does what the CLI's command does, each expected refusal comes
back as one clear line, and a request without the token, from another origin, for another host, not
JSON, or by GET changes nothing at all."""

from __future__ import annotations

from orchestrator.api import Orchestrator
from orchestrator.formats.layout import StateDir
from orchestrator.store.agentbook import AgentBook
from orchestrator.web.dashboard import serve_in_background
from tests.integration.web.conftest import post, snapshot


def test_every_action_does_what_the_cli_does(desk):
    env, server = desk
    main_before = env.git("rev-parse", "main").strip()
    status, answer = post(server, "/api/task/notes/accept")
    assert (status, answer["state"], answer["detail"]) == (200, "done", "accepted")
    assert env.state_of("notes") == "done" and env.git("rev-parse", "main").strip() == main_before
    assert env.state_of("waiting") == "incoming"  # its dependency is done: released at once, as by the CLI

    status, answer = post(server, "/api/task/changelog/land")
    assert status == 200 and env.state_of("changelog") == "done", answer
    assert "changelog-1.txt" in env.git("ls-tree", "--name-only", "main")

    status, answer = post(server, "/api/task/readme/reject", {"reason": "  "})
    assert status == 400 and "reason" in answer["error"] and env.state_of("readme") == "provisional"
    status, answer = post(server, "/api/task/readme/reject", {"reason": "say how to install it"})
    assert (status, answer["state"]) == (200, "incoming")
    assert env.read("readme").feedback == ("review by person: say how to install it",)

    status, answer = post(server, "/api/task/fails/retry")
    assert (status, answer["state"]) == (200, "incoming") and env.read("fails").attempts == 0
    status, answer = post(server, "/api/task/later/cancel")
    assert (status, answer["state"]) == (200, "failed") and env.read("later").last_error == "cancelled by person"

    assert post(server, "/api/pause", {"agent": "impl-1"}) == (200, {"message": "paused agent impl-1"})
    assert AgentBook(env.config.state_dir).get("impl-1").paused_reason == "paused by person"
    assert post(server, "/api/resume", {"agent": "impl-1"})[0] == 200
    assert AgentBook(env.config.state_dir).get("impl-1").paused_reason is None
    assert post(server, "/api/pause")[0] == 200 and StateDir(env.config.state_dir).pause_file.exists()
    assert post(server, "/api/resume", {"agent": None}) == (200, {"message": "resumed"})
    assert not StateDir(env.config.state_dir).pause_file.exists()

    status, answer = post(server, "/api/enqueue", {"title": "Typed on the page", "body": "Every word.",
                                                   "priority": "p1", "role": "risky"})
    assert (status, answer["task_id"], answer["state"]) == (200, "typed-on-the-page", "incoming"), answer
    task = env.read("typed-on-the-page")
    assert (task.title, task.body.strip(), task.priority, task.role) == ("Typed on the page", "Every word.", "P1", "risky")
    status, answer = post(server, "/api/enqueue", {"title": "Nobody takes this", "role": "nobody"})
    assert status == 200 and "no agent has role 'nobody'" in answer["message"]
    assert [e["actor"] for e in env.events("later") if e.get("event") == "cancelled"] == ["person"]


REFUSED = [  # (path, body, HTTP status, what the error says)
    ("/api/task/notes/accept", {}, 409, "is in done/"),  # (accepted first, below)
    ("/api/task/readme/land", {}, 409, "readme-1.txt"),  # main has its own readme-1.txt: the merge conflicts
    ("/api/task/no-such-task/retry", {}, 409, "no state"),
    ("/api/task/no-such-task/cancel", {}, 404, "no task 'no-such-task'"),
    ("/api/task/Not..An..Id/accept", {}, 400, "id"),
    ("/api/task/notes/frobnicate", {}, 404, "no action 'frobnicate'"),
    ("/api/task/readme/reject", {"reason": "x", "also": 1}, 400, "unknown field(s) also"),
    ("/api/pause", {"agent": "nobody-by-that-name"}, 404, "no agent 'nobody-by-that-name'"),
    ("/api/enqueue", {"title": "Bad priority", "priority": "P9"}, 400, "priority"),
    ("/api/enqueue", {"body": "no title"}, 400, "'title' is required"),
    ("/api/enqueue", {"title": 3}, 400, "'title' must be text"),
    ("/api/nothing-here", {}, 404, "no action at /api/nothing-here"),
]


def test_a_refused_action_says_why_in_one_line_and_changes_nothing(desk):
    env, server = desk
    assert post(server, "/api/task/notes/accept")[0] == 200
    before = snapshot(env)
    for path, body, status, says in REFUSED:
        got, answer = post(server, path, body)
        assert got == status and says in answer["error"], (path, body, got, answer)
        assert "Traceback" not in answer["error"] and "\n" not in answer["error"].strip(), answer
        assert snapshot(env) == before, (path, body)
    status, answer = post(server, "/api/task/notes/accept", raw=b"{not json")
    assert status == 400 and "not JSON" in answer["error"]
    assert post(server, "/api/task/notes/accept", raw=b"[]")[0] == 400 and snapshot(env) == before


def refusals(port):
    """(what is wrong, headers that replace the page's, body, expected status)."""
    return [
        ("no token", {"X-Orchestrator-Token": None}, None, 403),
        ("a wrong token", {"X-Orchestrator-Token": "guessed"}, None, 403),
        ("an empty token", {"X-Orchestrator-Token": ""}, None, 403),
        ("another site's page", {"Origin": "http://evil.example"}, None, 403),
        ("another local page", {"Origin": f"http://127.0.0.1:{port + 1}"}, None, 403),
        ("an opaque origin", {"Origin": "null"}, None, 403),
        ("a rebound name", {"Host": f"evil.example:{port}"}, None, 403),
        ("another port", {"Host": f"127.0.0.1:{port + 1}"}, None, 403),
        ("a form post", {"Content-Type": "application/x-www-form-urlencoded"}, b"title=x", 415),
        ("text/plain", {"Content-Type": "text/plain"}, b'{"title": "x"}', 415),
        ("no content type", {"Content-Type": None}, None, 415),
    ]


ACTIONS = [("/api/task/changelog/land", {}), ("/api/task/readme/reject", {"reason": "no"}),
           ("/api/task/fails/retry", {}), ("/api/task/later/cancel", {}), ("/api/pause", {}),
           ("/api/pause", {"agent": "impl-1"}), ("/api/enqueue", {"title": "Planted by another page"})]


def test_without_the_token_from_another_origin_or_host_nothing_changes(desk):
    env, server = desk
    port = server.server_address[1]
    before = snapshot(env)
    for what, headers, raw, status in refusals(port):
        for path, body in ACTIONS:
            got, answer = post(server, path, body, headers=headers, raw=raw)
            assert got == status and answer["error"].startswith("refused:"), (what, path, got, answer)
            assert server.guard.token not in answer["error"]
    for path, _ in ACTIONS:  # an action asked by GET (a link, an <img>, a redirect): not done
        assert post(server, path, method="GET")[0] == 405
        assert post(server, path, method="OPTIONS", raw=b"")[0] >= 400  # no CORS preflight is granted
    assert snapshot(env) == before
    # the same requests, as the page sends them, do change things: what was refused was the difference
    for path, body in ACTIONS:
        assert post(server, path, body)[0] == 200, path
    assert env.state_of("changelog") == "done" and env.state_of("later") == "failed"
    assert env.state_of("planted-by-another-page") == "incoming" and snapshot(env) != before


def test_reading_answers_only_its_own_host(desk):
    env, server = desk
    port = server.server_address[1]
    assert post(server, "/api/board", method="GET", token=None)[0] == 200
    assert post(server, "/api/board", method="GET", headers={"Host": f"localhost:{port}"})[0] == 200
    status, answer = post(server, "/api/task/notes", method="GET", headers={"Host": f"attacker.example:{port}"})
    assert status == 403 and "Host" in answer["error"]


def test_dashboard_prints_its_address_with_a_new_token_each_start(desk):
    env, server = desk
    from orchestrator.web.dashboard import make_server
    other = make_server(env.config, 0)
    try:
        assert other.url == f"http://127.0.0.1:{other.server_address[1]}/?token={other.guard.token}"
        assert len(other.guard.token) >= 40 and other.guard.token != server.guard.token
    finally:
        other.server_close()


def test_with_the_merge_queue_land_queues_and_the_lander_lands(desk):
    """With `merge: queue`, the page's land puts the task in landing/ (nothing merged yet, a conflict
    not refused at the click) and the merge queue then lands one branch and sends the other back."""
    env, first = desk
    first.shutdown()
    env.write_config([env.agent("impl-1"), env.agent("flaky", "fail.py", role="risky")], max_attempts=1,
                     merge="queue")
    server, _ = serve_in_background(env.config, 0)
    try:
        main_before = env.git("rev-parse", "main").strip()
        for task_id in ("changelog", "readme"):
            status, answer = post(server, f"/api/task/{task_id}/land")
            assert (status, answer["state"]) == (200, "landing"), answer
        assert env.git("rev-parse", "main").strip() == main_before
        assert post(server, "/api/task/notes/accept")[1]["state"] == "done"  # accept alone never lands
        Orchestrator(config=env.config).land()
        assert env.state_of("changelog") == "done" and env.state_of("notes") == "done"
        assert "changelog-1.txt" in env.git("ls-tree", "--name-only", "main")
        assert "notes-1.txt" not in env.git("ls-tree", "--name-only", "main")
        assert env.state_of("readme") == "incoming" and "readme-1.txt" in env.read("readme").feedback[-1]
    finally:
        server.shutdown()
        server.server_close()
