"""The dashboard over HTTP against a real queue, and in a real browser (headless Chromium) when one is installed."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request

import pytest

from orchestrator.web.dashboard import serve_in_background

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        body = response.read()
        return json.loads(body) if response.headers.get_content_type() == "application/json" else body.decode()


@pytest.fixture
def busy(env):
    env.write_config([env.agent("impl-1"), env.agent("flaky", "fail.py", role="risky")], max_attempts=1)
    env.enqueue("ready-one", "Write the release notes")
    env.enqueue("fails", "Try the risky thing", role="risky")
    env.drain()
    env.enqueue("waiting", "Waits for a dependency", depends_on=("ready-one",), priority="P1")
    env.queue.transition("waiting", "incoming", "blocked", actor="test")
    env.enqueue("queued", "Queued for later", priority="P0", role="nobody")
    server, _ = serve_in_background(env.config, 0)
    yield env, server.server_address[1]
    server.shutdown()


def test_binds_to_loopback_only(busy):
    env, port = busy
    from orchestrator.web.dashboard import make_server
    server = make_server(env.config, 0)
    assert server.server_address[0] == "127.0.0.1"
    server.server_close()


def test_board_task_log_diff_and_stats_over_http(busy):
    env, port = busy
    assert "<title>orchestrator</title>" in get(port, "/")
    board = get(port, "/api/board")["columns"]
    assert [c["id"] for c in board["provisional"]["cards"]] == ["ready-one"]
    assert board["failed"]["cards"][0]["reason"].startswith("attempt 1 (flaky): failed: exit code 3")
    assert board["incoming"]["cards"][0]["priority"] == "P0" and board["blocked"]["count"] == 1
    task = get(port, "/api/task/ready-one")
    assert task["state"] == "provisional" and [e["event"] for e in task["history"]][:2] == ["enqueued", "claimed"]
    log = get(port, "/api/log/ready-one/1?offset=0")
    assert "committed ready-one-1.txt" in log["text"] and log["running"] is False
    assert "+++ b/ready-one-1.txt" in get(port, "/api/diff/ready-one")["diff"]
    assert get(port, "/api/stats")["agents"]["flaky"]["failures"] == {"failed": 1}
    with pytest.raises(urllib.error.HTTPError):
        get(port, "/api/task/..%2Fetc")


@pytest.mark.skipif(not BROWSER, reason="no Chromium here: install Debian's chromium to run the browser test "
                                        "(apt-get install chromium); the HTTP tests above still ran")
def test_in_a_real_browser(busy, tmp_path):
    env, port = busy
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
             "--virtual-time-budget=4000"]
    dom = subprocess.run([BROWSER, *flags, "--dump-dom", f"http://127.0.0.1:{port}/"], capture_output=True, text=True,
                         timeout=90).stdout
    assert 'data-task="ready-one"' in dom and 'data-state="provisional"' in dom and "Write the release notes" in dom
    page = subprocess.run([BROWSER, *flags, "--dump-dom", f"http://127.0.0.1:{port}/task/ready-one"],
                          capture_output=True, text=True, timeout=90).stdout
    assert "committed ready-one-1.txt" in page and "enqueued" in page
    shot = tmp_path / "dashboard.png"
    subprocess.run([BROWSER, *flags, "--window-size=1400,820", f"--screenshot={shot}", f"http://127.0.0.1:{port}/"],
                   capture_output=True, timeout=90)
    assert shot.exists() and shot.stat().st_size > 10_000
