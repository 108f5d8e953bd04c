"""The command line as a user types it: real processes, real files."""

import json
import os
import subprocess
import sys

import pytest


def test_enqueue_prints_the_id_and_writes_the_task(env):
    env.write_config([env.agent("impl-1")])
    out = env.cli("enqueue", "Fix the login redirect", "--body", "Details here", "--priority", "P1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "fix-the-login-redirect"
    task = env.read("fix-the-login-redirect")
    assert (task.title, task.priority, task.body.strip()) == ("Fix the login redirect", "P1", "Details here")
    again = env.cli("enqueue", "Fix the login redirect")
    assert again.stdout.strip() == "fix-the-login-redirect-2"


def test_enqueue_body_from_stdin_and_explicit_id(env):
    env.write_config([env.agent("impl-1")])
    out = env.cli("enqueue", "Title", "--body-file", "-", "--id", "T012", input="from stdin\n")
    assert out.stdout.strip() == "T012" and env.read("T012").body == "from stdin\n"


def test_enqueue_with_dependencies_waits_in_blocked(env):
    env.write_config([env.agent("impl-1")])
    env.cli("enqueue", "First", "--id", "a")
    out = env.cli("enqueue", "Second", "--id", "b", "--depends-on", "a")
    assert out.returncode == 0 and env.state_of("b") == "blocked"


@pytest.mark.parametrize("args, message", [
    (["enqueue", "x", "--depends-on", "nope"], "depends on 'nope': no such task"),
    (["enqueue", "x", "--id", "../escape"], "task id '../escape' may only use letters"),
    (["enqueue", "x", "--agent", "ghost"], "agent 'ghost': no such agent"),
    (["enqueue", "x", "--body-file", "/nonexistent/file"], "--body-file /nonexistent/file: cannot read"),
    (["show", "missing"], "no task 'missing'"),
    (["logs", "missing"], "no log for any attempt of task 'missing' yet"),
])
def test_refusals_are_one_clear_line_and_write_nothing(env, args, message):
    env.write_config([env.agent("impl-1")])
    out = env.cli(*args)
    assert out.returncode != 0
    assert out.stderr.strip().startswith("orchestrator: ") and message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert env.queue.count("incoming") == 0 and env.queue.count("blocked") == 0


def test_duplicate_id_is_refused(env):
    env.write_config([env.agent("impl-1")])
    env.cli("enqueue", "x", "--id", "same")
    out = env.cli("enqueue", "y", "--id", "same")
    assert out.returncode == 1 and "already exists in incoming/" in out.stderr


def test_list_show_status_logs_after_a_run(env):
    env.write_config([env.agent("impl-1")])
    env.cli("enqueue", "Make it so", "--id", "t1")
    env.drain()
    listed = json.loads(env.cli("list", "--json").stdout)
    assert [(r["id"], r["state"]) for r in listed] == [("t1", "provisional")]
    assert "t1" in env.cli("list", "provisional").stdout
    shown = json.loads(env.cli("show", "t1", "--json").stdout)
    assert shown["branch"] == "agent/t1" and shown["runs"][0]["outcome"] == "success"
    status = json.loads(env.cli("status", "--json").stdout)
    assert status["counts"]["provisional"] == 1 and status["running"] == []
    assert "queue: blocked 0  incoming 0  claimed 0  provisional 1" in env.cli("status").stdout
    assert "committed t1-1.txt" in env.cli("logs", "t1").stdout
    assert "committed t1-1.txt" in env.cli("logs", "t1", "--attempt", "1", "--follow").stdout


def test_logs_follow_streams_a_running_attempt(env, agents_dir):
    (agents_dir / "talk.py").write_text(
        "import time\nfor i in range(3):\n    print('line', i, flush=True)\n    time.sleep(0.5)\n"
        "open('x.txt','w').write('x')\n")
    env.write_config([env.agent("impl-1", "talk.py")])
    env.enqueue("t1")
    assert env.cli("--once").returncode == 0
    env.wait_until(lambda: (env.config.state_dir / "runs" / "t1" / "1" / "agent.log").exists(), what="the log")
    out = env.cli("logs", "t1", "--follow", timeout=30)
    assert out.returncode == 0 and "line 0" in out.stdout and "line 2" in out.stdout


def test_validate_reports_every_problem(env):
    env.write_config([env.agent("impl-1"), {"name": "ghost", "command": ["not-a-real-binary-xyz"]}])
    (env.config.queue_dir / "incoming" / "bad.md").write_text("---\ntitle: x\npriority: P7\n---\n")
    (env.config.queue_dir / "incoming" / "lonely.md").write_text("---\ntitle: x\nrole: review\n---\n")
    out = env.cli("validate")
    assert out.returncode == 1
    assert "agent 'ghost': command 'not-a-real-binary-xyz' is not on the agent's PATH" in out.stdout
    assert "bad.md:3: key 'priority': 'P7' is not one of P0, P1, P2, P3" in out.stdout
    assert "no agent has role 'review', so this task would wait forever" in out.stdout


def test_validate_ok_and_bad_config(env):
    env.write_config([env.agent("impl-1")])
    assert env.cli("validate").returncode == 0
    env.config_path.write_text(env.config_path.read_text() + "max_runing: 2\n")
    out = env.cli("validate")
    assert out.returncode == 2 and "unknown key 'max_runing'" in out.stderr and "did you mean 'max_running'" in out.stderr


def test_once_refuses_a_repository_that_is_not_git(env, tmp_path):
    env.write_config([env.agent("impl-1")], repo=str(tmp_path / "agents"))
    out = env.cli("--once")
    assert out.returncode == 2 and "is not a git repository" in out.stderr and "Traceback" not in out.stderr


def test_config_from_environment_variable(env):
    env.write_config([env.agent("impl-1")])
    out = subprocess.run([sys.executable, "-m", "orchestrator", "enqueue", "via env"], capture_output=True,
                         text=True, cwd="/", env={**__import__("os").environ, "ORCHESTRATOR_CONFIG": str(env.config_path)})
    assert out.returncode == 0 and env.state_of("via-env") == "incoming"


def test_console_script_is_installed():
    import shutil
    assert shutil.which("orchestrator"), "pip install -e . installs the 'orchestrator' console script"


@pytest.mark.timeout(180)
def test_demo_runs_end_to_end(tmp_path):
    out = subprocess.run([sys.executable, "-m", "orchestrator", "demo", "--keep", str(tmp_path / "demo")],
                         capture_output=True, text=True, timeout=170)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "provisional 4" in out.stdout and "failed 1" in out.stdout
    assert "agent/fix-the-flaky-login-test  (1 commit beyond main)" in out.stdout
    assert "agent/try-the-risky-migration  (0 commits beyond main)" in out.stdout
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines() if line.split()[1:2] in
            (["provisional"], ["failed"]) and len(line.split()) > 5}
    assert rows["fix-the-flaky-login-test"][1:5] == ["provisional", "P0", "implement", "1"]  # ran once
    assert rows["try-the-risky-migration"][1:5] == ["failed", "P3", "experiment", "2"]
    assert rows["add-a-readme-section-on-setup"][1] == "provisional"  # the id does not run into STATE


def test_validate_warns_when_review_agent_has_no_reviewer(env):
    env.write_config([env.agent("impl-1")], review="agent")
    out = env.cli("validate")
    assert out.returncode == 1 and "no agent has role 'review'" in out.stdout


def test_validate_looks_for_the_command_on_the_path_the_agent_gets(env, tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "my-cli-xyz").write_text("#!/bin/sh\nexit 0\n")
    (tools / "my-cli-xyz").chmod(0o755)
    env.write_config([{"name": "a", "command": ["my-cli-xyz"], "env": {"PATH": "/usr/bin:/bin"}}])
    out = env.cli("validate")
    assert out.returncode == 1 and "'my-cli-xyz' is not on the agent's PATH (/usr/bin:/bin)" in out.stdout
    assert "full path in 'command'" in out.stdout
    env.write_config([{"name": "a", "command": ["my-cli-xyz"], "env": {"PATH": f"{tools}:/usr/bin:/bin"}}])
    assert env.cli("validate").returncode == 0


def test_the_prompt_on_standard_input_when_asked(env):
    script = env.agents_dir / "stdin.py"
    script.write_text("import os, pathlib, sys\n"
                      "pathlib.Path(os.environ['ORCH_TASK_ID'] + '.txt').write_text(sys.stdin.read() or 'nothing')\n")
    env.write_config([{"name": "a", "command": [sys.executable, str(script)], "prompt_on_stdin": True},
                      {"name": "b", "command": [sys.executable, str(script)], "role": "other"}])
    env.enqueue("t1", title="Read me from stdin")
    env.enqueue("t2", role="other")
    env.drain()
    assert "Read me from stdin" in env.git("show", "agent/t1:t1.txt")
    assert env.git("show", "agent/t2:t2.txt") == "nothing"


def test_the_prompt_as_an_argument_and_the_prompt_file_inside_the_worktree(env):
    """{prompt} is the prompt's text as one argument (no shell: quotes and $ stay as they are);
    {prompt_file} is inside the worktree, where a CLI confined to it can read it, and never committed."""
    script = env.agents_dir / "argv.py"
    script.write_text("import os, pathlib, sys\n"
                      "text, path = sys.argv[1], pathlib.Path(sys.argv[2])\n"
                      "inside = path.resolve().is_relative_to(pathlib.Path.cwd().resolve())\n"
                      "pathlib.Path('seen.txt').write_text(f'{text}\\n{inside}\\n{path.read_text() == text}\\n')\n")
    env.write_config([{"name": "a", "command": [sys.executable, str(script), "{prompt}", "{prompt_file}"]}])
    env.enqueue("t1", title="Quote 'this' and $HOME; `not run`")
    env.drain()
    text, inside, same = env.git("show", "agent/t1:seen.txt").rsplit("\n", 3)[:3]
    assert "Quote 'this' and $HOME; `not run`" in text and inside == "True" and same == "True"
    assert ".orchestrator-prompt.md" not in env.git("ls-tree", "-r", "--name-only", "agent/t1")


def test_the_configuration_is_found_from_a_subdirectory_of_the_repository(env):
    env.write_config([env.agent("impl-1")], repo=".")  # agents.yaml beside the repository's .git
    config = env.repo / "agents.yaml"
    config.write_text(env.config_path.read_text().replace("repo: " + str(env.repo), "repo: ."))
    sub = env.repo / "src" / "pkg"
    sub.mkdir(parents=True)
    out = subprocess.run([sys.executable, "-m", "orchestrator", "validate"], capture_output=True, text=True,
                         cwd=sub, timeout=60, env={k: v for k, v in os.environ.items() if k != "ORCHESTRATOR_CONFIG"})
    assert out.returncode == 0 and str(config) in out.stdout, out.stdout + out.stderr
    config.unlink()
    missing = subprocess.run([sys.executable, "-m", "orchestrator", "status"], capture_output=True, text=True,
                             cwd=sub, timeout=60)
    assert missing.returncode == 2 and f"'python -m orchestrator init {env.repo}'" in missing.stderr


def test_history_of_an_unknown_task_is_refused_like_show(env):
    env.write_config([env.agent("impl-1")])
    assert env.cli("history", "ghost").returncode == 1
    assert env.cli("show", "ghost").returncode == 1


def test_a_task_no_agent_can_take_is_warned_about_and_listed_under_needs_you(env):
    env.write_config([env.agent("impl-1")])
    out = env.cli("enqueue", "Write the docs", "--id", "docs", "--role", "docs")
    assert out.returncode == 0 and "no agent in" in out.stderr and "has role 'docs'" in out.stderr
    # A pin to an agent nobody defined is refused at enqueue; dropped in by hand, it is listed.
    assert env.cli("enqueue", "For a ghost", "--agent", "ghost").returncode == 2
    (env.config.queue_dir / "incoming" / "ghostly.md").write_text("---\ntitle: For a ghost\nagent: ghost\n---\n")
    quiet = env.cli("enqueue", "Ordinary", "--id", "ordinary")
    assert quiet.returncode == 0 and quiet.stderr == ""
    rows = {row["task"]: row for row in json.loads(env.cli("status", "--json").stdout)["needs_you"]}
    assert "no agent has role 'docs'" in rows["docs"]["why"] and rows["docs"]["title"] == "Write the docs"
    assert "ghostly" in rows and "ordinary" not in rows


def test_the_installed_command_runs_as_python_dash_m_does(env):
    """The `orchestrator` script pip writes (pyproject's [project.scripts]) calls the same entry point."""
    script = os.path.join(os.path.dirname(sys.executable), "orchestrator")
    if not os.path.exists(script):
        pytest.skip(f"no {script}: the package is not installed in this interpreter's environment")
    env.write_config([env.agent("impl-1")])
    env.enqueue("t1")
    by_script = subprocess.run([script, "--config", str(env.config_path), "list", "--json"], capture_output=True,
                               text=True, timeout=60, cwd=env.root)
    assert by_script.returncode == 0, by_script.stderr
    assert by_script.stdout == env.cli("list", "--json").stdout
    assert [t["id"] for t in json.loads(by_script.stdout)] == ["t1"]


def test_the_last_lines_reach_a_pipe_and_the_log_before_the_process_ends(env):
    """The command ends without the interpreter's teardown (cli/entry.py): what it printed and
    logged is flushed first, however much."""
    env.write_config([env.agent("impl-1")])
    for n in range(60):  # three to run; the rest wait in blocked/ for a task that never comes
        env.enqueue(f"t{n}", title="x" * 400, depends_on=() if n < 3 else ("never",))
    listed = env.cli("list", "--json")
    assert listed.returncode == 0 and len(json.loads(listed.stdout)) == 60  # ~30 kB through the pipe, whole
    drained = env.cli("--drain", "--timeout", "120", timeout=180)
    assert drained.returncode == 0, drained.stderr
    logged = (env.config.state_dir / "logs" / "orchestrator.jsonl").read_text().splitlines()
    assert sum('"task_succeeded"' in line for line in logged) == 3  # the drain's own last line included
