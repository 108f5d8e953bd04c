"""The dashboard in a real browser: a person's clicks on the board and on a task page change the queue,
and the board shows it. Headless Chromium driven through its DevTools pipe (cdp.py)."""

from __future__ import annotations

import json
import shutil

import pytest

from orchestrator.api import Orchestrator
from orchestrator.store.agentbook import AgentBook
from orchestrator.web.dashboard import serve_in_background
from tests.integration.web.cdp import Chromium

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(not BROWSER, reason="no Chromium here: install Debian's chromium to run the browser "
                                                    "tests (apt-get install chromium); the HTTP tests still ran")


def on_board(task_id: str, state: str) -> str:
    return f"!!document.querySelector('.column.{state} .card[data-task=\"{task_id}\"]')"


def button(task_id: str, action: str) -> str:
    return f'.card[data-task="{task_id}"] button[data-action="{action}"]'


@pytest.fixture
def browser(tmp_path):
    with Chromium(BROWSER, tmp_path / "profile") as chromium:
        yield chromium


def test_clicking_on_the_board_changes_the_queue(desk, browser):
    env, server = desk
    page = browser.open(server.url)
    page.wait_for(on_board("notes", "provisional"), what="the board")

    page.click(button("notes", "accept"))
    page.wait_for(on_board("notes", "done"), what="notes in done on the board")
    assert env.state_of("notes") == "done" and "notes: done (accepted)" in page.text("#notice")

    page.click(button("readme", "land"))  # main has its own readme-1.txt: refused, and the page says why
    page.wait_for("document.querySelector('#notice .error')?.textContent.includes('readme-1.txt')",
                  what="the refusal shown")
    assert env.state_of("readme") == "provisional" and page.evaluate(on_board("readme", "provisional"))

    page.click(button("changelog", "land"))
    page.wait_for(on_board("changelog", "done"), what="changelog landed")
    assert "changelog-1.txt" in env.git("ls-tree", "--name-only", "main")

    page.click(button("readme", "reject"))
    page.type("#reason-readme", "say how to install it")
    page.click('form.confirm button[data-confirm="yes"]')
    page.wait_for(on_board("readme", "incoming"), what="readme sent back")
    assert env.read("readme").feedback == ("review by person: say how to install it",)

    page.click(button("fails", "retry"))
    page.wait_for(on_board("fails", "incoming"), what="fails retried")

    page.click(button("later", "cancel"))  # the confirmation first: "keep it" keeps it
    page.click('form.confirm button[data-confirm="no"]')
    page.wait_for("!document.querySelector('form.confirm')", what="the confirmation closed")
    assert env.state_of("later") == "incoming"
    page.click(button("later", "cancel"))
    page.click('form.confirm button[data-confirm="yes"]')
    page.wait_for(on_board("later", "failed"), what="later cancelled")

    page.click('.agent[data-agent="impl-1"] button[data-action="pause"]')
    page.wait_for("!!document.querySelector('.agent.paused[data-agent=\"impl-1\"] button[data-action=\"resume\"]')",
                  what="impl-1 shown paused")
    assert AgentBook(env.config.state_dir).get("impl-1").paused_reason == "paused by person"
    page.click('.agent[data-agent="impl-1"] button[data-action="resume"]')
    page.wait_for("!!document.querySelector('.agent[data-agent=\"impl-1\"] button[data-action=\"pause\"]')",
                  what="impl-1 taking work again")
    assert AgentBook(env.config.state_dir).get("impl-1").paused_reason is None

    page.click("#enqueue summary")
    page.type("#nt-title", "Typed in the browser")
    page.type("#nt-body", "Every word of it.")
    page.evaluate("document.getElementById('nt-priority').value = 'P0'")
    page.click("#enqueue-form button[type=submit]")
    page.wait_for(on_board("typed-in-the-browser", "incoming"), what="the new task on the board")
    task = env.read("typed-in-the-browser")
    assert (task.title, task.body.strip(), task.priority) == ("Typed in the browser", "Every word of it.", "P0")
    assert page.problems() == []


def test_clicking_on_a_task_page(desk, browser):
    env, server = desk
    page = browser.open(server.url.replace("/?", "/task/waiting?"))
    page.wait_for("document.getElementById('task-state').textContent === 'blocked'", what="the task page")
    page.click('#task-actions button[data-action="cancel"]')
    page.click('form.confirm button[data-confirm="yes"]')
    page.wait_for("document.getElementById('task-state').textContent === 'failed'", what="waiting cancelled")
    assert env.state_of("waiting") == "failed"
    page.click('#task-actions button[data-action="retry"]')  # a failed task's button, now there
    page.wait_for("document.getElementById('task-state').textContent === 'blocked'", what="waiting retried")
    assert env.state_of("waiting") == "blocked"
    assert "cancelled" in page.text("#history") and "retried" in page.text("#history")

    page.click("#home")  # back to the board, still able to act
    page.wait_for(on_board("notes", "provisional"), what="the board")
    assert page.evaluate(f"!!document.querySelector({json.dumps(button('notes', 'accept'))})")
    assert page.problems() == []


def test_without_the_token_the_page_only_reads(desk, browser):
    env, server = desk
    page = browser.open(server.url.split("?")[0])
    page.wait_for(on_board("notes", "provisional"), what="the board")
    assert "read-only" in page.text("#alerts")
    assert page.evaluate("document.querySelectorAll('#board button, #agents button').length") == 0
    assert page.evaluate("document.getElementById('enqueue').hidden") is True
    page.goto(server.url.split("?")[0].rstrip("/") + "/task/notes")
    page.wait_for("document.getElementById('task-state').textContent === 'provisional'", what="the task page")
    assert "read-only" in page.text("#alerts") and page.evaluate("document.querySelectorAll('button').length") == 0


def test_landing_through_the_merge_queue_on_the_board(desk, browser, tmp_path):
    """With `merge: queue`: the click puts the card in the landing column and the header counts it; when
    the merge queue has landed it, the board shows it in done."""
    env, first = desk
    first.shutdown()
    env.write_config([env.agent("impl-1"), env.agent("flaky", "fail.py", role="risky")], max_attempts=1,
                     merge="queue")
    server, _ = serve_in_background(env.config, 0)
    try:
        page = browser.open(server.url)
        page.wait_for(on_board("changelog", "provisional"), what="the board")
        page.click(button("changelog", "land"))
        page.wait_for(on_board("changelog", "landing"), what="changelog waiting to land")
        page.wait_for("document.getElementById('summary').textContent.includes('merge queue: 1 to land')",
                      what="the merge queue in the header")
        assert page.evaluate(f"!!document.querySelector({json.dumps(button('changelog', 'cancel'))})")
        Orchestrator(config=env.config).land()
        page.wait_for(on_board("changelog", "done"), what="changelog landed")
        assert "changelog-1.txt" in env.git("ls-tree", "--name-only", "main")
        assert page.problems() == []
    finally:
        server.shutdown()
        server.server_close()


def test_tokens_and_cost_on_the_board_and_the_task_page(env, browser):
    """What the agent's CLI reported (here aider's usage line) on the agents' stats and the task's runs."""
    script = env.agents_dir / "costly.py"
    script.write_text("import os, pathlib\nprint('Model: openai/fake-model with whole edit format')\n"
                      "print('Tokens: 1.5k sent, 40 received. Cost: $0.25 message, $0.25 session.')\n"
                      "pathlib.Path(os.environ['ORCH_TASK_ID'] + '.txt').write_text('work\\n')\n")
    env.write_config([{"name": "impl-1", "command": [env.agent("x")["command"][0], str(script)]}])
    env.enqueue("costly", "Spend a little")
    env.drain()
    server, _ = serve_in_background(env.config, 0)
    try:
        page = browser.open(server.url)
        page.wait_for("document.getElementById('stats').textContent.includes('1540 tokens, $0.25')",
                      what="the agent's tokens and cost on the board")
        page.goto(server.url.replace("/?", "/task/costly?"))
        page.wait_for("document.getElementById('runs').textContent.includes("
                      "'1500 in / 40 out tokens, $0.2500 (openai/fake-model)')", what="the run's usage")
        assert "1540 tokens, $0.2500" in page.text("#task-meta")
        assert page.problems() == []
    finally:
        server.shutdown()
        server.server_close()
