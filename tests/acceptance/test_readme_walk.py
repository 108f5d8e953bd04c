"""The README's path on a real repository (a clone of this one), command by command as it is written
there, and the example agents.yaml at the top of the repository, run as is on a clone."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import PROJECT_ROOT, wait_until

WRITER = PROJECT_ROOT / "orchestrator" / "cli" / "demo_agents" / "writer.py"
pytestmark = pytest.mark.skipif(not (PROJECT_ROOT / ".git").exists(),
                                reason="needs this project as a git checkout (to clone it as the real repository)")


def readme_walk() -> list[str]:
    """The shell block under 'Using it on your repository', one command a line, comments removed."""
    text = (PROJECT_ROOT / "README.md").read_text()
    section = text[text.index("## Using it on your repository"):]
    block = section[section.index("```sh\n") + 6: section.index("```", section.index("```sh\n") + 6)]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def clone_of_this_repository(tmp_path: Path) -> Path:
    clone = tmp_path / "your-repo"
    subprocess.run(["git", "clone", "-q", "--no-local", str(PROJECT_ROOT), str(clone)], check=True)
    subprocess.run(["git", "checkout", "-q", "-B", "main"], cwd=clone, check=True)
    for key, value in (("user.name", "A Person"), ("user.email", "person@example.com")):
        subprocess.run(["git", "config", key, value], cwd=clone, check=True)
    return clone


# The clone holds this project's own package: `python -m orchestrator` run there must still be the
# orchestrator under test, not the clone's copy (a user's repository has none).
SAFE_PATH = {"PYTHONSAFEPATH": "1"}


def edit_agents_yaml(path: Path) -> None:
    """What the person does in $EDITOR: their agent's command (here the demo's writer script). The
    proposed setup (a venv with this project installed) is left out: this agent runs no code."""
    text = path.read_text()
    text = re.sub(r"^setup: .*\n", "", text, flags=re.M)
    placeholder = next(line for line in text.splitlines() if "replace this command" in line)
    path.write_text(text.replace(placeholder, f'    command: ["{sys.executable}", "{WRITER}", "{{prompt_file}}"]'))


def test_the_readme_walk_from_init_to_a_merged_main(tmp_path):
    walk = readme_walk()
    assert walk[0] == "cd your-repo" and walk[2] == "$EDITOR agents.yaml", walk
    repo = clone_of_this_repository(tmp_path)
    # A repository of one's own has no agents.yaml yet (this one ships an example).
    subprocess.run(["git", "rm", "-q", "--ignore-unmatch", "agents.yaml"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "no example config"], cwd=repo, check=True)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATOR_")}, **SAFE_PATH}
    daemon = None
    try:
        for line in walk[1:]:
            if line == "$EDITOR agents.yaml":
                edit_agents_yaml(repo / "agents.yaml")
                continue
            argv = shlex.split(line.removesuffix("&").strip())
            assert argv[:3] == ["python", "-m", "orchestrator"], line
            argv[0] = sys.executable
            if line.endswith("&"):
                daemon = subprocess.Popen(argv, cwd=repo, env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
                wait_until(lambda: state(repo, env, "fix-the-login-redirect") == "provisional", timeout=60,
                           poll=0.2, what="the task to be done and wait for review")
                continue
            out = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, f"{line}\n{out.stdout}{out.stderr}"
            if argv[3] == "init":
                assert "pyproject.toml: a Python project" in out.stdout  # setup proposed for this kind
            if argv[3] == "stop":
                assert daemon is not None and daemon.wait(timeout=30) == 0
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.kill()
    log = subprocess.run(["git", "log", "--format=%s", "-3", "main"], cwd=repo, capture_output=True, text=True).stdout
    assert "fix-the-login-redirect" in log, log
    assert (repo / "notes" / "fix-the-login-redirect.md").exists()  # main's checkout moved with it
    assert state(repo, env, "fix-the-login-redirect") == "done"


def test_the_example_agents_yaml_runs_as_is_on_this_repository(tmp_path):
    repo = clone_of_this_repository(tmp_path)
    shutil.copy(PROJECT_ROOT / "agents.yaml", repo / "agents.yaml")  # the working tree's version
    env = {**os.environ, **SAFE_PATH}
    run = lambda *args: subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=repo, env=env,  # noqa: E731
                                       capture_output=True, text=True, timeout=120)
    assert run("validate").returncode == 0
    assert run("enqueue", "Write a note", "--id", "note").returncode == 0
    assert run("enqueue", "Document it", "--id", "docs", "--agent", "docs-bot").returncode == 0
    assert run("enqueue", "Try it", "--id", "risky", "--role", "experiment").returncode == 0
    drained = run("--drain", "--timeout", "100")
    assert drained.returncode == 0, drained.stderr
    rows = {r["id"]: r for r in json.loads(run("list", "--json").stdout)}
    assert {i: r["state"] for i, r in rows.items()} == {"note": "provisional", "docs": "provisional", "risky": "failed"}
    assert rows["risky"]["attempts_run"] == 2


def state(repo: Path, env: dict, task_id: str) -> str | None:
    out = subprocess.run([sys.executable, "-m", "orchestrator", "show", task_id, "--json"], cwd=repo, env=env,
                         capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout)["state"] if out.returncode == 0 else None

