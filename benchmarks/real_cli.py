"""Real agent CLIs through the orchestrator against a plain shell loop, side by side, one run.

    python benchmarks/real_cli.py [--tasks 8] [--rounds 2] [--cli gemini --cli opencode]

For `script` (the control: a shell one-liner making the edit, whose own time hardly varies, so the
difference is the orchestrator's alone) and each installed CLI (pinned in .ci/agent-clis.txt;
ORCH_TEST_AGENT_CLIS or the default cache), against our fake model server making one edit per task:
- shell loop: per task `git worktree add`, the prompt file, the CLI's command exactly as the preset
  expands it, `git add -A && git commit`, `git worktree remove` — what a person would script;
- orchestrator: the same tasks enqueued, then `--drain` with max_running 1 until the last task is in
  provisional/ (the time counts from the drain's start, as the shell loop's from its first task).
Rounds alternate the order. Prints each side's wall time per task, the difference of the medians
and the median of each round's difference (the orchestrator's cost per task), the 95 % confidence
interval of the mean difference (the slow CLIs' own time moves by ±100 ms from task to task, so
their figure is only as sure as that interval says), failures; and
"steady": the orchestrator's time from its first claim to its last settle, per task, which leaves
out the --drain process's own start-up (Python, the first tick, the fork server), paid once per
drain and never by a running daemon. Target: under 50 ms per task added,
0 failures.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from orchestrator.formats.config import expand_command, parse  # noqa: E402
from tests.fakemodel.server import FakeModelServer  # noqa: E402

DEFAULT_CLIS = Path.home() / ".cache" / "orchestrator-agent-clis"
DEFAULT_BINS = f"{DEFAULT_CLIS / 'npm' / 'node_modules' / '.bin'}{os.pathsep}{DEFAULT_CLIS / 'bin'}"
SCRIPT = "script"  # the control: a shell one-liner making the same edit, so only the orchestrator's own time varies
SCRIPT_COMMAND = ["sh", "-c", "echo 'Task done.' > FAKE_EDIT.md"]
EXECUTABLE = {SCRIPT: "sh", "gemini": "gemini", "opencode": "opencode", "claude-code": "claude", "codex": "codex", "aider": "aider"}
CODEX_CONFIG = """model = "gpt-5.5"
model_provider = "local"
check_for_update_on_startup = false
[features]
plugins = false
[analytics]
enabled = false
[model_providers.local]
name = "local"
base_url = "{url}/v1"
env_key = "OPENAI_API_KEY"
wire_api = "responses"
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "bench@example.com")
    git(path, "config", "user.name", "Bench")
    (path / "README.md").write_text("bench\n")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "init")
    return path


def endpoint_env(cli: str, fake: FakeModelServer, scratch: Path) -> dict[str, str]:
    """What the tests' users add to reach the fake (see tests/acceptance/test_real_clis.py)."""
    if cli == SCRIPT:
        return {}
    if cli == "gemini":
        home = scratch / "gemini-home"
        (home / ".gemini").mkdir(parents=True, exist_ok=True)
        (home / ".gemini" / "settings.json").write_text(json.dumps({
            "security": {"auth": {"selectedType": "gemini-api-key"}}, "telemetry": {"enabled": False},
            "privacy": {"usageStatisticsEnabled": False},
            "general": {"enableAutoUpdate": False, "maxAttempts": 1}}))
        return {"GOOGLE_GEMINI_BASE_URL": fake.url, "GEMINI_API_KEY": "fake-key", "GEMINI_CLI_HOME": str(home)}
    if cli == "claude-code":
        return {"ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": "fake-key",
                "CLAUDE_CONFIG_DIR": str(scratch / "claude-config")}
    if cli == "codex":
        home = scratch / "codex-home"
        home.mkdir(exist_ok=True)
        (home / "config.toml").write_text(CODEX_CONFIG.format(url=fake.url))
        return {"CODEX_HOME": str(home), "OPENAI_API_KEY": "fake-key"}
    if cli == "aider":
        metadata = scratch / "aider-models.json"
        metadata.write_text(json.dumps({"openai/fake-model": {
            "max_input_tokens": 128000, "max_output_tokens": 16384, "input_cost_per_token": 2.5e-06,
            "output_cost_per_token": 1e-05, "litellm_provider": "openai", "mode": "chat"}}))
        return {"OPENAI_API_BASE": f"{fake.url}/v1", "OPENAI_API_KEY": "fake-key", "AIDER_MODEL": "openai/fake-model",
                "AIDER_MODEL_METADATA_FILE": str(metadata), "AIDER_SHOW_MODEL_WARNINGS": "false",
                "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HOME": str(scratch / "aider-home")}
    config = scratch / "opencode.json"
    config.write_text(json.dumps({
        "autoupdate": False, "share": "disabled", "model": "fake/fake-model", "small_model": "fake/fake-model",
        "provider": {"fake": {"npm": "@ai-sdk/openai-compatible", "name": "Fake",
                              "options": {"baseURL": f"{fake.url}/v1", "apiKey": "fake-key"},
                              "models": {"fake-model": {"name": "Fake"}}}}}))
    home = scratch / "opencode-home"
    return {"OPENCODE_CONFIG": str(config), **{f"XDG_{d}_HOME": str(home / d.lower())
                                                for d in ("CONFIG", "DATA", "CACHE", "STATE")}}


def agent_entry(cli: str) -> dict:
    """The agent as `init --agent CLI` writes it; the control is a plain command."""
    return {"name": "a", "command": SCRIPT_COMMAND} if cli == SCRIPT else {"name": "a", "preset": cli}


def shell_loop(cli: str, bin_dir: Path, scratch: Path, tasks: int, extra_env: dict[str, str]) -> tuple[float, int]:
    repo = make_repo(scratch / "shell-repo")
    agent = parse(yaml.safe_dump({"queue_dir": "q", "state_dir": "s", "agents": [agent_entry(cli)]}),
                  scratch / "agents.yaml").agents[0]
    env = {**os.environ, **agent.env, **extra_env, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    failures = 0
    started = time.monotonic()
    for n in range(tasks):
        wt = scratch / "shell-wt" / f"t{n}"
        git(repo, "worktree", "add", "-q", "-b", f"shell/t{n}", str(wt), "main")
        prompt = wt / ".orchestrator-prompt.md"
        prompt.write_text(f"# Task {n}\n\nAdd a file.\n")
        argv = expand_command(agent.command, {"prompt_file": str(prompt), "prompt": prompt.read_text()})
        ran = subprocess.run(argv, cwd=wt, env={**env, "PWD": str(wt)},  # as a shell's cd sets it; opencode reads it
                             stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
        prompt.unlink()
        subprocess.run(["git", "add", "-A"], cwd=wt, check=True)
        subprocess.run(["git", "commit", "-q", "-m", f"task {n}"], cwd=wt, capture_output=True)  # if the CLI did not
        ahead = subprocess.run(["git", "rev-list", "--count", f"main..shell/t{n}"], cwd=wt, capture_output=True,
                               text=True).stdout.strip()
        if ran.returncode != 0 or ahead == "0":
            failures += 1
            print(f"  shell loop, task {n}: exit {ran.returncode}, {ahead} commits; {ran.stdout.decode()[-300:]}",
                  file=sys.stderr)
        git(repo, "worktree", "remove", "--force", str(wt))
    return time.monotonic() - started, failures


def orchestrated(cli: str, bin_dir: Path, scratch: Path, tasks: int, extra_env: dict[str, str]) -> tuple[float, int]:
    repo = make_repo(scratch / "orch-repo")
    config = scratch / "orch-agents.yaml"
    config.write_text(yaml.safe_dump({
        "repo": str(repo), "queue_dir": str(scratch / "queue"), "state_dir": str(scratch / "state"),
        "max_running": 1, "max_attempts": 1,
        "agents": [{**agent_entry(cli), "env": extra_env}]}))
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    cmd = [sys.executable, "-m", "orchestrator", "--config", str(config)]
    for n in range(tasks):
        subprocess.run([*cmd, "enqueue", f"Task {n}", "--body", "Add a file.", "--id", f"t{n}"], env=env, check=True,
                       capture_output=True, cwd=ROOT)
    started = time.monotonic()  # from a queue of waiting tasks, as the shell loop starts from a list
    subprocess.run([*cmd, "--drain", "--timeout", "1200"], env=env, capture_output=True, cwd=ROOT)
    seconds = time.monotonic() - started
    done = len(list((scratch / "queue" / "provisional").glob("*.md")))
    STEADY.append(steady_seconds(scratch / "state" / "events.jsonl"))
    return seconds, tasks - done


STEADY: list[float] = []  # per orchestrator round: first claim to last settle (the drain's own start-up left out)


def steady_seconds(journal: Path) -> float:
    """From the first claim to the last task settled: what a running daemon pays for the tasks."""
    events = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    claimed = [e["ts"] for e in events if e["event"] == "claimed"]
    settled = [e["ts"] for e in events if e["event"] in ("succeeded", "retry", "failed")]
    if not claimed or not settled:
        return float("nan")
    from datetime import datetime
    return (datetime.fromisoformat(max(settled)) - datetime.fromisoformat(min(claimed))).total_seconds()


T_975 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26, 10: 2.23,
         12: 2.18, 15: 2.13, 20: 2.09, 30: 2.04}  # Student's t, two-sided 95 %, by degrees of freedom


def interval(differences: list[float]) -> tuple[float, float]:
    """The 95 % confidence interval of the mean of the rounds' paired differences: how sure the
    figure is, given how much the CLI's own time moves from round to round."""
    n = len(differences)
    if n < 2:
        return float("nan"), float("nan")
    t = T_975[max(k for k in T_975 if k <= n - 1)]  # (a smaller df's t: the wider, safer side)
    mean, half = statistics.mean(differences), t * statistics.stdev(differences) / n ** 0.5
    return mean - half, mean + half


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cli", action="append", choices=list(EXECUTABLE))
    args = parser.parse_args()
    # As pip leaves an installed package: compiled. (Where PYTHONDONTWRITEBYTECODE is set, every
    # orchestrator process would otherwise compile its modules again, ~40 ms each.)
    compileall.compile_dir(ROOT / "orchestrator", quiet=1)
    bins = [Path(d) for d in (os.environ.get("ORCH_TEST_AGENT_CLIS") or DEFAULT_BINS).split(os.pathsep) if d]
    print(f"cores: {os.cpu_count()}  tasks per side and round: {args.tasks}  rounds: {args.rounds}")
    for cli in args.cli or list(EXECUTABLE):
        found = shutil.which("sh") if cli == SCRIPT else None
        bin_dir = Path(found).parent if found else next((d for d in bins if (d / EXECUTABLE[cli]).exists()), None)
        if bin_dir is None:
            print(f"{cli}: not installed in {os.pathsep.join(map(str, bins))}; skipped")
            continue
        per_task = {"shell loop": [], "orchestrator": []}
        failures = {"shell loop": 0, "orchestrator": 0}
        for round_no in range(args.rounds):
            sides = [("shell loop", shell_loop), ("orchestrator", orchestrated)]
            for name, side in sides if round_no % 2 == 0 else reversed(sides):
                with tempfile.TemporaryDirectory(prefix="orch-realcli-") as tmp, \
                        FakeModelServer(script=["edit"], opts={"path": "FAKE_EDIT.md"}) as fake:
                    scratch = Path(tmp)
                    seconds, failed = side(cli, bin_dir, scratch, args.tasks, endpoint_env(cli, fake, scratch))
                per_task[name].append(seconds / args.tasks)
                failures[name] += failed
        shell, orch = statistics.median(per_task["shell loop"]), statistics.median(per_task["orchestrator"])
        steady = statistics.median(STEADY[-args.rounds:]) / args.tasks
        # Each round's two sides ran one after the other: their difference is less at the mercy of
        # the machine's drift than the difference of the two medians.
        paired = statistics.median(o - s for s, o in zip(per_task["shell loop"], per_task["orchestrator"],
                                                               strict=True))
        low, high = interval([o - s for s, o in zip(per_task["shell loop"], per_task["orchestrator"], strict=True)])
        print(json.dumps({"cli": cli, "seconds_per_task": {k: [round(v, 3) for v in vs] for k, vs in per_task.items()},
                          "median_shell_loop_s": round(shell, 3), "median_orchestrator_s": round(orch, 3),
                          "orchestrator_adds_ms_per_task": round((orch - shell) * 1000, 1),
                          "paired_adds_ms_per_task": round(paired * 1000, 1),
                          "paired_adds_95ci_ms": [round(low * 1000, 1), round(high * 1000, 1)],
                          "steady_orchestrator_s": round(steady, 3),
                          "steady_adds_ms_per_task": round((steady - shell) * 1000, 1),
                          "ratio": round(orch / shell, 3), "failures": failures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
