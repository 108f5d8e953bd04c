"""Bad and hostile input: each case gets a clear message, nothing is lost, nothing escapes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.store.queue import Queue
from orchestrator.tick.scheduler import Scheduler


def drop(env, name: str, content) -> None:
    path = env.config.queue_dir / "incoming" / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())


def why(env, name: str) -> str:
    return (env.config.queue_dir / "invalid" / (name + ".why")).read_text()


BAD_FILES = [
    ("broken-yaml.md", "---\ntitle: [unclosed\n---\n", "broken-yaml.md:3:1: YAML syntax error"),
    ("a-list.md", "---\n- a\n- b\n---\n", "the task frontmatter must be a mapping of keys to values, got list"),
    ("no-title.md", "---\npriority: P1\n---\nno heading here\n",
     "the task has no title (add 'title: ...' to the frontmatter or start the body with a '# Heading')"),
    ("bad-priority.md", "---\ntitle: x\npriority: urgent\n---\n",
     "bad-priority.md:3: key 'priority': 'urgent' is not one of P0, P1, P2, P3"),
    ("deps-string.md", "---\ntitle: x\ndepends_on: other-task\n---\n",
     "deps-string.md:3: key 'depends_on': must be a list of strings, got 'other-task'"),
    ("wrong-type.md", "---\ntitle: x\nmax_attempts: many\n---\n",
     "wrong-type.md:3: key 'max_attempts': must be a whole number, got 'many'"),
    ("empty.md", "", "the task has no title"),
    ("binary.md", b"\x00\x01\x02ELF", "is a binary file, not a Markdown task"),
    ("latin1.md", "---\ntitle: caf\xe9\n---\n".encode("latin-1"), "latin1.md:2: not valid UTF-8 (byte 14); save the file as UTF-8"),
    ("bad name!.md", "---\ntitle: x\n---\n", "task id 'bad name!' may only use letters, digits"),
    ("notes.txt", "just notes", "not a task file (task files are named <id>.md)"),
]


@pytest.mark.parametrize("name, content, message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_task_file_is_quarantined_with_the_reason_and_the_tick_goes_on(env, name, content, message):
    env.write_config([env.agent("impl-1")])
    env.enqueue("good")
    drop(env, name, content)
    report = Scheduler(env.config).tick()
    assert [t for t, _ in report.started] == ["good"]
    assert not (env.config.queue_dir / "incoming" / name).exists()
    assert (env.config.queue_dir / "invalid" / name).exists()
    text = why(env, name)
    assert message in text and "Fix it here: the next tick takes it back into the queue" in text
    status = json.loads(env.cli("status", "--json").stdout)
    assert status["invalid"][0]["file"] == name and message in status["invalid"][0]["reason"]
    assert f"invalid/{name}: quarantined:" in env.cli("validate").stdout
    env.wait_until(lambda: env.queue.count("claimed") == 0, what="the good task")


def test_a_fifty_megabyte_file_is_quarantined_unread(env):
    env.write_config([env.agent("impl-1")])
    with open(env.config.queue_dir / "incoming" / "huge.md", "wb") as fh:
        fh.truncate(50 * 1024 * 1024)
    Scheduler(env.config).tick()
    assert "52428800 bytes; a task file may be at most 1000000 bytes" in why(env, "huge.md")


def test_a_duplicate_id_in_another_state_is_quarantined(env):
    env.write_config([env.agent("impl-1")])
    env.enqueue("t1")
    env.queue.transition("t1", "incoming", "failed", actor="test")
    drop(env, "t1.md", "---\ntitle: a second t1\n---\n")
    Scheduler(env.config).tick()
    assert "duplicate id 't1': a task with this id is already in failed/" in why(env, "t1.md")
    assert env.state_of("t1") == "failed"


def test_a_fixed_file_moved_back_is_picked_up(env):
    env.write_config([env.agent("impl-1")])
    drop(env, "fixme.md", "---\ntitle: x\npriority: P9\n---\n")
    Scheduler(env.config).tick()
    invalid = env.config.queue_dir / "invalid" / "fixme.md"
    invalid.write_text("---\ntitle: x\npriority: P1\n---\n")
    os.rename(invalid, env.config.queue_dir / "incoming" / "fixme.md")
    report = Scheduler(env.config).tick()
    assert [t for t, _ in report.started] == ["fixme"]
    env.wait_until(lambda: env.queue.count("claimed") == 0, what="the fixed task")


def test_a_symlink_to_a_secret_is_quarantined_not_read(env, tmp_path):
    secret = tmp_path / "id_rsa"
    secret.write_text("-----BEGIN PRIVATE KEY-----\n")
    env.write_config([env.agent("impl-1")])
    os.symlink(secret, env.config.queue_dir / "incoming" / "steal.md")
    Scheduler(env.config).tick()
    moved = env.config.queue_dir / "invalid" / "steal.md"
    assert moved.is_symlink() and secret.read_text() == "-----BEGIN PRIVATE KEY-----\n"
    assert "a symbolic link; task files must be regular files (links are never followed)" in why(env, "steal.md")
    assert "PRIVATE KEY" not in (env.config.state_dir / "events.jsonl").read_text()


def test_a_queue_directory_replaced_by_a_link_stops_the_tick(env, tmp_path):
    env.write_config([env.agent("impl-1")])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.md").write_text("---\ntitle: x\n---\n")
    incoming = env.config.queue_dir / "incoming"
    os.rmdir(incoming)
    os.symlink(elsewhere, incoming)
    out = env.cli("--once")
    assert out.returncode == 1
    assert f"{incoming} is not a plain directory (it is a symbolic link or a file)" in out.stderr
    assert (elsewhere / "x.md").exists()


def test_no_shell_ever_sees_task_text(env, agents_dir, tmp_path):
    canary = tmp_path / "canary"
    hostile = f"$(touch {canary}) `touch {canary}`; touch {canary}\n'\"--force"
    (agents_dir / "echo_args.py").write_text(
        "import json, os, sys, pathlib\n"
        "pathlib.Path(os.environ['OUT']).write_text(json.dumps({'argv': sys.argv[1:], "
        "'title': os.environ['ORCH_TASK_TITLE'], 'prompt': open(os.environ['ORCH_PROMPT_FILE']).read()}))\n"
        "pathlib.Path('w.txt').write_text('w')\n")
    out = tmp_path / "seen.json"
    agent = env.agent("impl-1", "echo_args.py", env={"OUT": str(out)})
    agent["command"] = agent["command"][:2] + ["{title}", "--", "{task_id}"]
    env.write_config([agent])
    title = "-rf " + hostile.replace("\n", " ")
    result = env.cli("enqueue", title, "--id", "hostile", "--body", hostile)
    assert result.returncode == 0, result.stderr
    env.drain()
    seen = json.loads(out.read_text())
    assert seen["argv"] == [title, "--", "hostile"] and seen["title"] == title and hostile in seen["prompt"]
    assert not canary.exists()


def test_case_only_differences_are_refused(env):
    env.write_config([env.agent("impl-1")])
    env.cli("enqueue", "x", "--id", "Fix-Login")
    out = env.cli("enqueue", "y", "--id", "fix-login")
    assert out.returncode == 1
    assert "task id 'fix-login' differs from the existing task 'Fix-Login' only in case" in out.stderr


def test_outbox_is_limited_in_number(env, agents_dir):
    (agents_dir / "flood.py").write_text(
        "import os, pathlib\nfor n in range(101):\n"
        "    pathlib.Path(os.environ['ORCH_OUTBOX'], f't{n}.md').write_text('---\\ntitle: x\\n---\\n')\n")
    env.write_config([env.agent("splitter", "flood.py", role="breakdown")], max_attempts=1)
    env.enqueue("big", role="breakdown")
    env.drain()
    assert "101 files; a breakdown may create at most 100 tasks" in env.read("big").last_error


def test_secrets_never_reach_the_logs_or_the_journal(env, agents_dir):
    (agents_dir / "leaky.py").write_text("import os, sys\nprint('token', os.environ['OPENAI_API_KEY'])\nsys.exit(1)\n")
    env.write_config([env.agent("impl-1", "leaky.py", env={"OPENAI_API_KEY": "sk-very-secret"})], max_attempts=1)
    env.enqueue("t1")
    env.drain()
    journal = (env.config.state_dir / "events.jsonl").read_text()
    logs = (env.config.state_dir / "logs" / "orchestrator.jsonl").read_text()
    assert "sk-very-secret" not in logs and "sk-very-secret" not in journal
    assert "token ***" in env.read("t1").last_error  # the agent printed it; our records hide it
    spec = env.config.state_dir / "runs" / "t1" / "1" / "spec.json"
    assert stat.S_IMODE(spec.stat().st_mode) == 0o600


def test_redaction_of_values_and_assignments():
    from orchestrator.base.redact import redact
    assert redact({"env": {"GITHUB_TOKEN": "ghp_x", "HOME": "/h"}}) == {"env": {"GITHUB_TOKEN": "***", "HOME": "/h"}}
    assert redact("failed: API_KEY=abc123 rest") == "failed: API_KEY=*** rest"


# ---- the environment the orchestrator runs in ----------------------------------------

def test_missing_base_branch(env):
    env.write_config([env.agent("impl-1")], base_branch="trunk")
    out = env.cli("--once")
    assert out.returncode == 2 and "base branch 'trunk' does not exist" in out.stderr and "Traceback" not in out.stderr


def test_repository_in_the_middle_of_a_rebase(env):
    env.write_config([env.agent("impl-1")])
    (env.repo / ".git" / "rebase-merge").mkdir()
    out = env.cli("--once")
    assert out.returncode == 2 and "is in the middle of a rebase" in out.stderr


def test_git_missing_from_path(env):
    env.write_config([env.agent("impl-1")])
    out = subprocess.run([sys.executable, "-m", "orchestrator", "--config", str(env.config_path), "--once"],
                         capture_output=True, text=True, env={**os.environ, "PATH": "/nonexistent"})
    assert out.returncode == 2 and "'git' not found on PATH" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permissions")
def test_read_only_queue_directory(env):
    env.write_config([env.agent("impl-1")])
    incoming = env.config.queue_dir / "incoming"
    incoming.chmod(0o500)
    try:
        out = env.cli("enqueue", "x")
    finally:
        incoming.chmod(0o755)
    assert out.returncode == 3 and "cannot write to" in out.stderr and "Permission denied" in out.stderr


def test_read_only_filesystem(env, tmp_path):
    mount = tmp_path / "ro"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        env.write_config([env.agent("impl-1")], queue_dir=str(mount / "queue"), state_dir=str(mount / "state"))
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        out = env.cli("enqueue", "x")
        assert out.returncode == 3 and "Read-only file system" in out.stderr, out.stderr
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_deleted_worktree_is_made_again(env):
    env.write_config([env.agent("impl-1", "fail.py")], max_attempts=2, auto_commit=False)
    env.enqueue("t1")
    scheduler = Scheduler(env.config)
    scheduler.tick()
    env.wait_until(lambda: env.state_of("t1") == "incoming", what="the first failure")
    import shutil
    shutil.rmtree(env.config.state_dir / "worktrees", ignore_errors=True)
    env.drain()
    assert env.state_of("t1") == "failed" and "exit code 3" in env.read("t1").last_error


# ---- property-based: no file in the queue can crash a tick or get lost ---------------

frontmatter_values = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20),
                               st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=5),
                                                                                           st.integers(), max_size=2))
frontmatter = st.dictionaries(st.sampled_from(["title", "priority", "depends_on", "role", "agent", "id",
                                               "max_attempts", "attempts", "x"]), frontmatter_values, max_size=5)


@st.composite
def task_files(draw):
    kind = draw(st.sampled_from(["bytes", "text", "front"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "text":
        return draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")
    import yaml
    body = draw(st.text(max_size=50))
    try:
        head = yaml.safe_dump(draw(frontmatter))
    except yaml.YAMLError:
        head = "title: x\n"
    return f"---\n{head}---\n{body}".encode("utf-8", "surrogatepass")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(task_files(), min_size=1, max_size=8))
def test_fuzzed_task_files_never_crash_a_tick_or_get_lost(env, files):
    env.write_config([env.agent("impl-1", role="nobody-takes-these")])
    queue = Queue(env.config.queue_dir, env.config.state_dir)
    for d in ("incoming", "invalid"):
        for p in (env.config.queue_dir / d).iterdir():
            p.unlink()
    names = [f"f{n}.md" for n in range(len(files))]
    for name, content in zip(names, files):
        drop(env, name, content)
    Scheduler(env.config, persist_index=False).tick()
    for name in names:
        in_incoming = (env.config.queue_dir / "incoming" / name).exists()
        in_invalid = (env.config.queue_dir / "invalid" / name).exists()
        assert in_incoming != in_invalid, name  # exactly one place: never lost, never doubled
        if in_invalid:
            assert (env.config.queue_dir / "invalid" / (name + ".why")).read_text().strip()
        else:
            queue.read_file(env.config.queue_dir / "incoming" / name)  # what stays parses


@settings(max_examples=60, deadline=None)
@given(data=st.dictionaries(st.sampled_from(["repo", "agents", "max_running", "tick_seconds", "review", "bogus",
                                             "env_passthrough", "setup"]), frontmatter_values, max_size=6))
def test_fuzzed_configs_fail_only_with_config_errors(tmp_path_factory, data):
    import yaml

    from orchestrator.base.errors import ConfigError
    from orchestrator.formats import config as configmod
    path = tmp_path_factory.mktemp("cfg") / "agents.yaml"
    path.write_text(yaml.safe_dump(data))
    try:
        configmod.load(path)
    except ConfigError as exc:
        assert str(exc).startswith(str(path))


def test_a_hidden_markdown_file_is_quarantined_not_ignored(env):
    env.write_config([env.agent("impl-1")])
    drop(env, "..md", "---\ntitle: x\n---\n")
    (env.config.queue_dir / "incoming" / ".gitkeep").touch()
    Scheduler(env.config).tick()
    assert "a hidden file; task files are named <id>.md" in why(env, "..md")
    assert (env.config.queue_dir / "incoming" / ".gitkeep").exists()
