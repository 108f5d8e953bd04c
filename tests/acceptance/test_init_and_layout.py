"""`init` and the default layout: the user's own git habits never cost a task, and init can be killed
and run again (issue: nothing lost to the people around it, items 4 and 9)."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def orchestrator(*args: str, cwd, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd, env={**os.environ, **(env_extra or {})})


def git(repo, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def listed(repo) -> set[str]:
    out = orchestrator("--config", str(repo / "agents.yaml"), "list", "--json", cwd=repo)
    assert out.returncode == 0, out.stderr
    return {row["id"] for row in json.loads(out.stdout)}


def test_routine_git_commands_on_the_checkout_delete_no_task(repo):
    assert orchestrator("init", str(repo), cwd=repo).returncode == 0
    git(repo, "add", "agents.yaml")
    git(repo, "commit", "-q", "-m", "orchestrator config")
    config = str(repo / "agents.yaml")
    for n in range(3):
        assert orchestrator("--config", config, "enqueue", f"Task {n}", "--id", f"t{n}", cwd=repo).returncode == 0
    assert git(repo, "status", "--porcelain") == "", "the queue is not in the working tree"
    (repo / "scratch.txt").write_text("the user's own untracked file\n")
    for command in (["stash", "-u"], ["clean", "-fd"], ["clean", "-fdx"], ["checkout", "."],
                    ["reset", "--hard"], ["gc", "--prune=now", "-q"]):
        git(repo, *command)
        assert listed(repo) == {"t0", "t1", "t2"}, f"tasks lost to git {' '.join(command)}"
    assert (repo / ".git" / "orchestrator" / "queue" / "incoming" / "t0.md").exists()


def test_a_queue_inside_the_working_tree_is_warned_about(repo):
    (repo / "agents.yaml").write_text("queue_dir: queue\nstate_dir: .orchestrator\n"
                                      "agents:\n  - name: a\n    command: [sh, -c, 'true']\n")
    out = orchestrator("--config", str(repo / "agents.yaml"), "validate", cwd=repo)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "warning:" in out.stdout and "queue_dir" in out.stdout and "git clean -fdx" in out.stdout
    assert "state_dir" in out.stdout


def test_init_keeps_the_users_files_and_runs_again(repo):
    (repo / ".gitignore").write_text(".env\n")
    first = orchestrator("init", str(repo), cwd=repo)
    assert first.returncode == 0, first.stderr
    assert (repo / ".gitignore").read_text() == ".env\n", "init leaves .gitignore alone"
    (repo / "agents.yaml").write_text((repo / "agents.yaml").read_text() + "# my edit\n")
    again = orchestrator("init", str(repo), cwd=repo)
    assert again.returncode == 0 and "kept the existing" in again.stdout, again.stdout + again.stderr
    assert (repo / "agents.yaml").read_text().endswith("# my edit\n")
    validated = orchestrator("--config", str(repo / "agents.yaml"), "validate", cwd=repo)
    # The layout is fine (no warning); the one problem is the command nobody has set yet.
    assert validated.returncode == 1 and "warning" not in validated.stdout, validated.stdout
    assert validated.stdout.strip().splitlines() == [
        f"{repo / 'agents.yaml'}: agent 'impl-1': 'command' is still the placeholder that init wrote: set it to "
        "your agent's command line, or use 'preset: claude-code' (or codex, gemini, opencode, aider)"]


def test_init_killed_while_writing_leaves_no_half_file_and_a_rerun_finishes(repo):
    killed = orchestrator("init", str(repo), "--agent", "gemini", cwd=repo,
                          env_extra={"ORCHESTRATOR_CRASH_AT": "enqueue_before_publish"})
    assert killed.returncode == -9
    assert not (repo / "agents.yaml").exists(), "agents.yaml appears whole or not at all"
    rerun = orchestrator("init", str(repo), "--agent", "gemini", cwd=repo)
    assert rerun.returncode == 0, rerun.stderr
    assert "preset: gemini" in (repo / "agents.yaml").read_text()
    same = orchestrator("init", str(repo), "--agent", "gemini", cwd=repo)
    assert same.returncode == 0, "the same init again is no error"
    other = orchestrator("init", str(repo), "--agent", "codex", cwd=repo)
    assert other.returncode == 2 and "add the codex agent to it by hand" in other.stderr


def test_init_outside_a_repository_says_to_run_git_init(tmp_path):
    target = tmp_path / "not-a-repo"
    target.mkdir()
    out = orchestrator("init", str(target), cwd=tmp_path)
    assert out.returncode == 2 and "git init" in out.stderr and not (target / "agents.yaml").exists()
