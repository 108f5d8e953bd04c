"""The five real agent CLIs, installed from their registries, driven end to end through the orchestrator
against our own fake model server (tests/fakemodel/).

Each test writes the preset exactly as `init --agent NAME` does, adds only what a user needs to
reach their own model endpoint, and runs a task through `--drain`. The CLIs are those pinned in
.ci/agent-clis.txt; .ci/run installs them and says where (ORCH_TEST_AGENT_CLIS). A CLI that is not
installed makes its tests skip with the reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from tests.fakemodel.server import FakeModelServer

# A drain may take up to 240 s on a slow machine (the CLIs start slowly): above the suite's 120 s.
pytestmark = pytest.mark.timeout(420)

DEFAULT_CLIS = Path.home() / ".cache" / "orchestrator-agent-clis"
DEFAULT_DIRS = [DEFAULT_CLIS / "npm" / "node_modules" / ".bin", DEFAULT_CLIS / "bin"]


def cli_bin(name: str) -> Path:
    """The directory holding the CLI's executable, or skip."""
    listed = [Path(d) for d in os.environ.get("ORCH_TEST_AGENT_CLIS", "").split(os.pathsep) if d]
    for directory in listed + DEFAULT_DIRS:
        if (directory / name).exists():
            return directory
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


# ---- every preset, flag by flag against the installed CLI's --help ---------------------------

HELP = {"claude-code": ("claude", "--help"), "codex": ("codex", "exec", "--help"), "gemini": ("gemini", "--help"),
        "opencode": ("opencode", "run", "--help"), "aider": ("aider", "--help")}


@pytest.mark.parametrize("preset", sorted(HELP))
def test_every_flag_of_the_preset_is_in_the_installed_clis_help(preset):
    """A flag renamed or dropped by a new version (as codex's --full-auto was) fails here, before a
    task does; so does a value the flag no longer accepts (--approval-mode yolo, --format json)."""
    help_command = HELP[preset]
    bin_dir = cli_bin(help_command[0])
    out = subprocess.run([str(bin_dir / help_command[0]), *help_command[1:]], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "NO_COLOR": "1"})
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    command = init_command(preset)
    for i, arg in enumerate(command[1:], start=1):
        if not arg.startswith("-"):
            continue
        assert re.search(rf"(?<![\w-]){re.escape(arg)}(?![\w-])", text), f"{preset}: {arg} is not in {' '.join(help_command)}"
        value = command[i + 1] if i + 1 < len(command) else ""
        if arg not in ("-c", "-p", "--message-file") and value and not value.startswith("-"):
            assert f'"{value}"' in text or value in text.split(), f"{preset}: {arg} {value} is not offered"


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


def test_gemini_preset_runs_a_task_to_review(tmp_path, repo, fake_model):
    opts = {"path": "FAKE_EDIT.md", "content": "from gemini\n", "read": ".orchestrator-prompt.md"}
    fake = fake_model(script=["edit"], opts=opts)
    config, bin_dir = gemini_setup(tmp_path, repo, fake)
    assert run(config, bin_dir, "enqueue", "Add a file", "--id", "t1").returncode == 0
    out = run(config, bin_dir, "--drain", "--timeout", "240")
    assert out.returncode == 0, out.stderr
    assert_task_on_its_branch(config, bin_dir, repo, "from gemini\n", reports_cost=False)
    # The model asked the CLI to read the prompt file (inside its workspace, so allowed): the task's
    # title came back to the model in the tool's answer.
    assert any("Add a file" in json.dumps(r["body"]) for r in fake.main_turns())


def test_gemini_quota_rests_the_agent_and_spends_no_attempt(tmp_path, repo, fake_model):
    fake = fake_model(script=["usage_limit"])
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


def test_opencode_preset_runs_a_task_to_review(tmp_path, repo, fake_model):
    fake = fake_model(script=["edit"], opts={"path": "FAKE_EDIT.md", "content": "from opencode\n"})
    config, bin_dir = opencode_setup(tmp_path, repo, fake)
    assert run(config, bin_dir, "enqueue", "Add a file", "--id", "t1").returncode == 0
    out = run(config, bin_dir, "--drain", "--timeout", "240")
    assert out.returncode == 0, out.stderr
    assert_task_on_its_branch(config, bin_dir, repo, "from opencode\n", reports_cost=True)
    # The instruction reached the model and names the prompt file inside the worktree.
    assert any(".orchestrator-prompt.md" in json.dumps(r["body"]) for r in fake.main_turns())


# ---- shared checks ---------------------------------------------------------------------------

def assert_task_on_its_branch(config: Path, bin_dir: Path, repo: Path, content: str, path: str = "FAKE_EDIT.md",
                              *, reports_cost: bool):
    task = show(config, bin_dir, "t1")
    assert task["state"] == "provisional", task
    assert git(repo, "show", f"agent/t1:{path}") == content
    assert ".orchestrator-prompt.md" not in git(repo, "ls-tree", "-r", "--name-only", "agent/t1")
    # The tokens (and, where the CLI says, the cost) it reported, in show and in stats.
    run_ = task["runs"][-1]
    assert run_["input_tokens"] > 0 and run_["output_tokens"] > 0, run_
    assert (run_["cost_usd"] is not None) == reports_cost, run_
    stats = json.loads(run(config, bin_dir, "stats", "--json").stdout)
    (agent,) = stats["agents"].values()
    assert agent["input_tokens"] == run_["input_tokens"], stats
    return task


def assert_rested_without_spending_an_attempt(config: Path, bin_dir: Path, rest_seconds: float | None = None) -> None:
    task = show(config, bin_dir, "t1")
    assert task["state"] == "incoming" and task["attempts"] == 0, task
    status = json.loads(run(config, bin_dir, "status", "--json").stdout)
    assert status["agents"][0]["paused"] and "cooling down" in status["agents"][0]["paused_reason"], status
    if rest_seconds is not None:  # the reset time the CLI printed, read from its output
        until = datetime.fromisoformat(task["runs"][-1]["resume_at"])
        assert abs((until - datetime.now(UTC)).total_seconds() - rest_seconds) < 180, (until, task["runs"][-1])


def drain_one(config: Path, bin_dir: Path, title: str = "Add a file") -> subprocess.CompletedProcess:
    assert run(config, bin_dir, "enqueue", title, "--id", "t1").returncode == 0
    return run(config, bin_dir, "--drain", "--timeout", "240")


# ---- Claude Code -----------------------------------------------------------------------------

def claude_setup(tmp_path: Path, repo: Path, fake: FakeModelServer) -> tuple[Path, Path]:
    """A user's own Anthropic-compatible endpoint: ANTHROPIC_BASE_URL and a key. No retries, so a
    limit shows at once (a user may leave claude's own 10)."""
    bin_dir = cli_bin("claude")
    config = init_with_preset(repo, "claude-code")
    reach_endpoint(config, {"ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": "fake-key",
                            "CLAUDE_CONFIG_DIR": str(tmp_path / "claude-config"),
                            "CLAUDE_CODE_MAX_RETRIES": "0"}, max_attempts=1)
    return config, bin_dir


def test_claude_code_preset_runs_a_task_to_review_as_root_too(tmp_path, repo, fake_model):
    # Running as root (CI, containers) is a supported case: the preset sets IS_SANDBOX=1 for it.
    fake = fake_model(script=["edit"], opts={"path": "FAKE_EDIT.md", "content": "from claude\n"})
    config, bin_dir = claude_setup(tmp_path, repo, fake)
    out = drain_one(config, bin_dir)
    assert out.returncode == 0, out.stderr
    assert_task_on_its_branch(config, bin_dir, repo, "from claude\n", reports_cost=True)


@pytest.mark.parametrize("mode", ["rate_limit", "usage_limit"])
def test_claude_code_limits_rest_the_agent_and_spend_no_attempt(tmp_path, repo, fake_model, mode):
    fake = fake_model(script=[mode])
    config, bin_dir = claude_setup(tmp_path, repo, fake)
    out = drain_one(config, bin_dir)
    assert out.returncode == 0, out.stderr
    assert_rested_without_spending_an_attempt(config, bin_dir)


def test_claude_code_server_error_is_a_failed_attempt_in_its_own_words(tmp_path, repo, fake_model):
    fake = fake_model(script=["error500"])
    config, bin_dir = claude_setup(tmp_path, repo, fake)
    out = drain_one(config, bin_dir)
    assert_failed_not_rested(out, config, bin_dir, "exit code 1: API Error: 500 Internal server error.")


def assert_failed_not_rested(out: subprocess.CompletedProcess, config: Path, bin_dir: Path, said: str) -> None:
    """A server error is the attempt's failure (not a limit), with the CLI's own message as the
    reason, not its JSON (session ids, headers)."""
    assert out.returncode == 0, out.stderr
    task = show(config, bin_dir, "t1")
    assert task["state"] == "failed" and task["attempts"] == 1, task
    assert said in task["last_error"] and "session" not in task["last_error"], task["last_error"]
    status = json.loads(run(config, bin_dir, "status", "--json").stdout)
    assert not status["agents"][0]["paused"], status


# ---- Codex -----------------------------------------------------------------------------------

CODEX_CONFIG = """\
model = "gpt-5.5"
model_provider = "local"

[features]
plugins = false

[model_providers.local]
name = "local"
base_url = "{base_url}/v1"
env_key = "OPENAI_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
"""


def codex_setup(tmp_path: Path, repo: Path, fake: FakeModelServer) -> tuple[Path, Path]:
    """A user's own Responses-API endpoint, as codex configures one: a provider in $CODEX_HOME/config.toml."""
    bin_dir = cli_bin("codex")
    home = tmp_path / "codex-home"
    home.mkdir()
    (home / "config.toml").write_text(CODEX_CONFIG.format(base_url=fake.url))
    config = init_with_preset(repo, "codex")
    reach_endpoint(config, {"CODEX_HOME": str(home), "OPENAI_API_KEY": "fake-key"}, max_attempts=1)
    return config, bin_dir


def test_codex_preset_runs_a_task_to_review(tmp_path, repo, fake_model):
    opts = {"path": "FAKE_EDIT.md", "content": "from codex\n", "commit": True}
    fake = fake_model(script=["edit"], opts=opts)
    config, bin_dir = codex_setup(tmp_path, repo, fake)
    out = drain_one(config, bin_dir)
    assert out.returncode == 0, out.stderr
    assert_task_on_its_branch(config, bin_dir, repo, "from codex\n", reports_cost=False)


@pytest.mark.parametrize("mode, opts, rest", [
    ("rate_limit", {}, None), ("usage_limit", {}, None),
    # A ChatGPT plan's limit: codex prints "You've hit your usage limit. ... try again at 3:04 PM."
    ("usage_limit", {"usage_limit_kind": "chatgpt", "resets_in_s": 3600}, 3600),
], ids=["rate_limit", "usage_limit", "chatgpt_plan_limit"])
def test_codex_limits_rest_the_agent_and_spend_no_attempt(tmp_path, repo, fake_model, mode, opts, rest):
    fake = fake_model(script=[mode], opts=opts)
    config, bin_dir = codex_setup(tmp_path, repo, fake)
    out = drain_one(config, bin_dir)
    assert out.returncode == 0, out.stderr
    assert_rested_without_spending_an_attempt(config, bin_dir, rest_seconds=rest)


def test_codex_server_error_is_a_failed_attempt_in_its_own_words(tmp_path, repo, fake_model):
    fake = fake_model(script=["error500"])
    config, bin_dir = codex_setup(tmp_path, repo, fake)
    out = drain_one(config, bin_dir)
    assert_failed_not_rested(out, config, bin_dir, "exit code 1: We\u2019re currently experiencing high demand")


# ---- Aider -----------------------------------------------------------------------------------

def aider_setup(tmp_path: Path, repo: Path, fake: FakeModelServer, **settings: object) -> tuple[Path, Path]:
    """A user's own OpenAI-compatible endpoint for aider: OPENAI_API_BASE, a model, and the model's
    metadata (without it aider fetches litellm's price list from GitHub on every run)."""
    bin_dir = cli_bin("aider")
    home = tmp_path / "aider-home"
    home.mkdir()
    metadata = home / "models.json"
    metadata.write_text(json.dumps({"openai/fake-model": {
        "max_input_tokens": 128000, "max_output_tokens": 16384, "input_cost_per_token": 2.5e-06,
        "output_cost_per_token": 1e-05, "litellm_provider": "openai", "mode": "chat"}}))
    config = init_with_preset(repo, "aider")
    reach_endpoint(config, {"OPENAI_API_BASE": f"{fake.url}/v1", "OPENAI_API_KEY": "fake-key",
                            "AIDER_MODEL": "openai/fake-model", "AIDER_MODEL_METADATA_FILE": str(metadata),
                            "AIDER_SHOW_MODEL_WARNINGS": "false", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                            "HOME": str(home)}, max_attempts=1, **settings)
    return config, bin_dir


def test_aider_preset_runs_a_task_to_review(tmp_path, repo, fake_model):
    opts = {"path": "FAKE_EDIT.md", "content": "from aider\n"}
    fake = fake_model(script=["edit"], opts=opts)
    config, bin_dir = aider_setup(tmp_path, repo, fake)
    out = drain_one(config, bin_dir)
    assert out.returncode == 0, out.stderr
    assert_task_on_its_branch(config, bin_dir, repo, "from aider\n", reports_cost=True)


def test_aider_that_only_added_its_gitignore_line_did_not_succeed(tmp_path, repo, fake_model):
    # Without --no-gitignore aider adds `.aider*` to .gitignore; when the model then does nothing,
    # auto_commit's one-line commit is no work: the attempt fails (it used to reach provisional/).
    fake = fake_model(script=["text"])
    config, bin_dir = aider_setup(tmp_path, repo, fake)
    data = yaml.safe_load(config.read_text())
    data["agents"][0]["command"] = [a for a in init_command("aider") if a != "--no-gitignore"]
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    out = drain_one(config, bin_dir)
    assert out.returncode == 0, out.stderr
    task = show(config, bin_dir, "t1")
    assert task["state"] == "failed", task
    assert "no_changes" in task["last_error"] or "tool noise" in task["last_error"], task["last_error"]


AIDER_RETRY_CAP = Path(__file__).resolve().parents[1] / "fakemodel" / "aider_retry_cap"


@pytest.mark.parametrize("mode", ["usage_limit", "rate_limit"])
def test_aider_limits_rest_the_agent_and_spend_no_attempt(tmp_path, repo, fake_model, mode):
    # aider retries on its own (for about a minute; here, with its retry cap cut to 1 s by
    # aider_retry_cap/sitecustomize.py, for about two seconds), then exits 0: the limit message in its
    # output (not the exit code) is what rests the agent. usage_limit: 429 insufficient_quota;
    # rate_limit: 429 rate_limit_exceeded, "Rate limit reached for ... Please try again in 20s."
    # retry-after 0: the openai SDK under litellm backs off by itself (~0.5 s) instead of 2 s a retry.
    fake = fake_model(script=[mode], opts={"retry_s": 0})
    config, bin_dir = aider_setup(tmp_path, repo, fake)
    reach_endpoint(config, {"PYTHONPATH": str(AIDER_RETRY_CAP)})
    out = drain_one(config, bin_dir)
    # aider did retry, and gave up by itself: more than one main turn, all answered with the limit.
    modes = [r["mode"] for r in fake.main_turns()]
    assert len(modes) > 1 and set(modes) == {mode}, modes
    assert out.returncode == 0, out.stderr
    assert_rested_without_spending_an_attempt(config, bin_dir)
    # aider gave up and exited 0 by itself (not killed): the exit-0 path, where the message alone counts.
    result = Path(show(config, bin_dir, "t1")["runs"][-1]["log"]).with_name("result.json")
    assert json.loads(result.read_text())["exit_code"] == 0


def init_command(preset: str) -> list[str]:
    from orchestrator.formats.presets import PRESETS
    return list(PRESETS[preset]["command"])


def test_a_model_call_that_never_answers_is_stopped_as_a_stall(tmp_path, repo, fake_model):
    fake = fake_model(script=["hang"], hang_seconds=120)
    config, bin_dir = claude_setup(tmp_path, repo, fake)
    data = yaml.safe_load(config.read_text())
    # claude asks within about a second of its start; no retry backoff: the stall is what is timed.
    data["agents"][0]["stall_seconds"] = 3
    data["max_attempts"] = 3
    data["retry_backoff_seconds"] = 0
    data["kill_grace_seconds"] = 5
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    assert run(config, bin_dir, "enqueue", "Add a file", "--id", "t1").returncode == 0
    out = run(config, bin_dir, "--drain", "--timeout", "120")
    # Each attempt did reach the model and waited on it (not stopped before it asked).
    asked = fake.main_turns()
    assert [r["mode"] for r in asked] == ["hang", "hang"], asked
    assert out.returncode == 0, out.stderr
    task = show(config, bin_dir, "t1")
    assert task["state"] == "blocked" and task["attempts"] == 0, task
    assert [r["outcome"] for r in task["runs"]] == ["stalled", "blocked"], task["runs"]
    # Stopped within stall_seconds of the request that never got an answer (JSON mode prints
    # nothing), plus one look (stall_seconds / 4) and the stop itself (kill_grace_seconds at most);
    # and not before stall_seconds had passed since the claim.
    wall = time.time() - time.monotonic()
    for turn, attempt in zip(asked, task["runs"], strict=True):
        finished = datetime.fromisoformat(attempt["finished_at"]).timestamp()
        assert finished - datetime.fromisoformat(attempt["claimed_at"]).timestamp() >= 3, attempt
        assert finished - (turn["t"] + wall) < 3 + 3 / 4 + data["kill_grace_seconds"] + 2, (finished, turn["t"] + wall)
