"""The real agent CLIs, installed from their registries, driven end to end through the orchestrator
against our own fake model server (tests/fakemodel/).

Each test writes the preset exactly as `init --agent NAME` does, adds only what a user needs to
reach their own model endpoint, and runs a task through `--drain`. The CLIs are those pinned in
.ci/agent-clis.txt; .ci/run installs them and says where (ORCH_TEST_AGENT_CLIS). A CLI that is not
installed makes its tests skip with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fakemodel.server import FakeModelServer

DEFAULT_CLIS = Path.home() / ".cache" / "orchestrator-agent-clis" / "npm" / "node_modules" / ".bin"


def cli_bin(name: str) -> Path:
    """The directory holding the CLI's executable, or skip."""
    for directory in (os.environ.get("ORCH_TEST_AGENT_CLIS"), str(DEFAULT_CLIS)):
        if directory and (Path(directory) / name).exists():
            return Path(directory)
    found = shutil.which(name)
    if found:
        return Path(found).parent
    pytest.skip(f"{name} is not installed (bash .ci/install-agent-clis installs the pinned CLIs)")


def init_with_preset(repo: Path, preset: str) -> Path:
    out = subprocess.run([sys.executable, "-m", "orchestrator", "init", str(repo), "--agent", preset],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return repo / "agents.yaml"


def reach_endpoint(config: Path, env: dict[str, str], **settings: object) -> None:
    """What a user adds to the written preset: where their model is, and its key."""
    data = yaml.safe_load(config.read_text())
    data["agents"][0].setdefault("env", {}).update(env)
    data.update(settings)
    config.write_text(yaml.safe_dump(data, sort_keys=False))


def run(config: Path, bin_dir: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([sys.executable, "-m", "orchestrator", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=config.parent)


def show(config: Path, bin_dir: Path, task_id: str) -> dict:
    return json.loads(run(config, bin_dir, "show", task_id, "--json").stdout)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


# ---- Gemini CLI ----------------------------------------------------------------------------

def gemini_home(tmp_path: Path) -> Path:
    """Settings a user of a custom endpoint needs: the API-key auth (a base URL alone selects a
    'gateway' auth that headless mode refuses, exit 41), no telemetry, no update checks."""
    home = tmp_path / "gemini-home"
    (home / ".gemini").mkdir(parents=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps({
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "privacy": {"usageStatisticsEnabled": False}, "telemetry": {"enabled": False},
        "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False, "maxAttempts": 1},
    }))
    return home


def gemini_setup(tmp_path: Path, repo: Path, fake: FakeModelServer) -> tuple[Path, Path]:
    bin_dir = cli_bin("gemini")
    config = init_with_preset(repo, "gemini")
    reach_endpoint(config, {"GOOGLE_GEMINI_BASE_URL": fake.url, "GEMINI_API_KEY": "fake-key",
                            "GEMINI_CLI_HOME": str(gemini_home(tmp_path))}, max_attempts=1)
    return config, bin_dir


def test_gemini_preset_runs_a_task_to_review(tmp_path, repo):
    opts = {"path": "FAKE_EDIT.md", "content": "from gemini\n", "read": ".orchestrator-prompt.md"}
    with FakeModelServer(script=["edit"], opts=opts) as fake:
        config, bin_dir = gemini_setup(tmp_path, repo, fake)
        assert run(config, bin_dir, "enqueue", "Add a file", "--id", "t1").returncode == 0
        out = run(config, bin_dir, "--drain", "--timeout", "240")
    assert out.returncode == 0, out.stderr
    task = show(config, bin_dir, "t1")
    assert task["state"] == "provisional", task
    assert git(repo, "show", "agent/t1:FAKE_EDIT.md") == "from gemini\n"
    assert ".orchestrator-prompt.md" not in git(repo, "ls-tree", "-r", "--name-only", "agent/t1")
    # The model asked the CLI to read the prompt file (inside its workspace, so allowed): the task's
    # title came back to the model in the tool's answer.
    assert any("Add a file" in json.dumps(r["body"]) for r in fake.main_turns())


def test_gemini_quota_rests_the_agent_and_spends_no_attempt(tmp_path, repo):
    with FakeModelServer(script=["usage_limit"]) as fake:
        config, bin_dir = gemini_setup(tmp_path, repo, fake)
        run(config, bin_dir, "enqueue", "Add a file", "--id", "t1")
        run(config, bin_dir, "--once")
        out = run(config, bin_dir, "--drain", "--timeout", "240")
    assert out.returncode == 0, out.stderr
    task = show(config, bin_dir, "t1")
    assert task["state"] == "incoming" and task["attempts"] == 0, task
    status = json.loads(run(config, bin_dir, "status", "--json").stdout)
    assert status["agents"][0]["paused"] and "cooling down" in status["agents"][0]["paused_reason"]


# ---- opencode --------------------------------------------------------------------------------

def opencode_setup(tmp_path: Path, repo: Path, fake: FakeModelServer) -> tuple[Path, Path]:
    """A user's own OpenAI-compatible endpoint, as opencode configures one: a provider in its config."""
    bin_dir = cli_bin("opencode")
    home = tmp_path / "opencode-home"
    home.mkdir()
    opencode_config = tmp_path / "opencode.json"
    opencode_config.write_text(json.dumps({
        "autoupdate": False, "share": "disabled", "model": "fake/fake-model", "small_model": "fake/fake-model",
        "provider": {"fake": {"npm": "@ai-sdk/openai-compatible", "name": "Fake",
                              "options": {"baseURL": f"{fake.url}/v1", "apiKey": "fake-key"},
                              "models": {"fake-model": {"name": "Fake", "limit": {"context": 200000, "output": 8000}}}}},
    }))
    config = init_with_preset(repo, "opencode")
    reach_endpoint(config, {"OPENCODE_CONFIG": str(opencode_config), "XDG_CONFIG_HOME": str(home / "config"),
                            "XDG_DATA_HOME": str(home / "data"), "XDG_CACHE_HOME": str(home / "cache"),
                            "XDG_STATE_HOME": str(home / "state")}, max_attempts=1)
    return config, bin_dir


def test_opencode_preset_runs_a_task_to_review(tmp_path, repo):
    with FakeModelServer(script=["edit"], opts={"path": "FAKE_EDIT.md", "content": "from opencode\n"}) as fake:
        config, bin_dir = opencode_setup(tmp_path, repo, fake)
        assert run(config, bin_dir, "enqueue", "Add a file", "--id", "t1").returncode == 0
        out = run(config, bin_dir, "--drain", "--timeout", "240")
    assert out.returncode == 0, out.stderr
    task = show(config, bin_dir, "t1")
    assert task["state"] == "provisional", task
    assert git(repo, "show", "agent/t1:FAKE_EDIT.md") == "from opencode\n"
    # The instruction reached the model and names the prompt file inside the worktree.
    assert any(".orchestrator-prompt.md" in json.dumps(r["body"]) for r in fake.main_turns())
