"""Agent presets: `preset: NAME` in agents.yaml expands to the tool's non-interactive command line.

Every key a preset sets can be overridden on the agent, key by key; list settings (env_passthrough,
usage_limit_patterns, noise_paths) and env add up instead. The instruction points the tool at the
prompt file, which lies inside the worktree (CLIs confined to their workspace can read it) and is
never committed; task text never passes through a shell. docs/presets/ has one page per preset.

Verified flag by flag against the installed CLI and our fake model server (tests/acceptance/
test_real_clis.py; versions pinned in .ci/agent-clis.txt):
- gemini: Gemini CLI 0.61.0: headless `-p`, `--approval-mode yolo` (without it the request offers
  no write or shell tools), `--skip-trust` (a fresh worktree is untrusted: exit 55 otherwise),
  `--output-format json` (token figures in `stats`).
- opencode: opencode 1.18.33: `opencode run --auto` (without it a permission is auto-rejected and
  the run exits 0 having done nothing), `--format json` (per-step tokens and cost); update checks,
  the models.dev fetch, LSP downloads, sharing and default plugins off by environment.
- claude-code: Claude Code 2.1.332: print mode (`claude -p`), `--dangerously-skip-permissions`
  (refused as root unless IS_SANDBOX=1, which the preset sets), `--output-format json`.
- codex: Codex CLI 0.171.0: `codex exec` with `--dangerously-bypass-approvals-and-sandbox` (its
  workspace-write sandbox cannot write a linked worktree's index in the main repository and blocks
  loopback) and `--skip-git-repo-check`.
- aider: aider 0.86.2: `--message-file` (one message, then exit), `--yes-always`, no .gitignore edit.
"""

from __future__ import annotations

INSTRUCTION = ("Read the task in {prompt_file} and carry it out in this repository. "
               "Commit your work with git when you are done.")

PRESETS: dict[str, dict] = {
    "claude-code": {
        "command": ["claude", "-p", INSTRUCTION, "--dangerously-skip-permissions", "--output-format", "json"],
        "env": {"IS_SANDBOX": "1", "DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"},
        "env_passthrough": ["ANTHROPIC_API_KEY", "ANTHROPIC_*", "CLAUDE_CODE_*", "CLAUDE_CONFIG_DIR"],
        "provider": "anthropic",  # agents on one account share its limits (set another name per account)
        # As printed by claude 2.1.332: plan limits, API credit and spend limits (exit 1, is_error true).
        "usage_limit_patterns": ["usage limit reached", "Claude AI usage limit", "Credit balance is too low",
                                 "API usage limits", "rate_limit_error"],
    },
    "codex": {
        # --json: one event per line, with the turn's token usage (turn.completed) for the attempt's result.
        # -c: no update check and no analytics, whatever config.toml says (the user's file stays theirs).
        "command": ["codex", "exec", "--dangerously-bypass-approvals-and-sandbox", "--skip-git-repo-check",
                    "--json", "-c", "check_for_update_on_startup=false", "-c", "analytics.enabled=false",
                    INSTRUCTION],
        "env_passthrough": ["OPENAI_API_KEY", "OPENAI_*", "CODEX_HOME", "CODEX_*"],
        "provider": "openai",
        # codex 0.171.0: "Quota exceeded. Check your plan...", "You've hit your usage limit... try again at
        # 7:01 AM" (ChatGPT plans), "exceeded retry limit, last status: 429 Too Many Requests".
        "usage_limit_patterns": ["usage limit", "rate limit reached", "Quota exceeded", "last status: 429"],
    },
    "aider": {
        "command": ["aider", "--message-file", "{prompt_file}", "--yes-always", "--no-pretty", "--no-stream",
                    "--no-gitignore", "--no-check-update", "--no-show-release-notes", "--analytics-disable"],
        # aider wraps its messages at the terminal's width, which would split a limit message in two.
        "env": {"COLUMNS": "400"},
        "env_passthrough": ["OPENAI_API_KEY", "OPENAI_API_BASE", "ANTHROPIC_API_KEY", "AIDER_*",
                            "OPENROUTER_API_KEY", "LITELLM_*"],
        "usage_limit_patterns": ["RateLimitError", "usage limit", "exceeded your current quota"],
    },
    "gemini": {
        "command": ["gemini", "-p", INSTRUCTION, "--approval-mode", "yolo", "--skip-trust", "--output-format", "json"],
        "env_passthrough": ["GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_*", "GEMINI_*"],
        "provider": "google",
        "usage_limit_patterns": ["exceeded your current quota", "exhausted your daily quota", "RESOURCE_EXHAUSTED"],
    },
    "opencode": {
        "command": ["opencode", "run", "--auto", "--format", "json", INSTRUCTION],
        "env": {"OPENCODE_DISABLE_AUTOUPDATE": "1", "OPENCODE_DISABLE_MODELS_FETCH": "1",
                "OPENCODE_DISABLE_LSP_DOWNLOAD": "1", "OPENCODE_DISABLE_SHARE": "1"},
        "env_passthrough": ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENCODE_*", "XDG_CONFIG_HOME", "XDG_DATA_HOME"],
        "usage_limit_patterns": ["rate limit", "exceeded your current quota"],
    },
}


def expand(preset: str, agent: dict) -> dict:
    """The agent's mapping with the preset's keys filled in wherever the agent does not set them;
    env adds up (the agent's own values win)."""
    merged = dict(agent)
    for key, value in PRESETS[preset].items():
        if key == "env":
            merged["env"] = {**value, **(merged.get("env") or {})}
        elif merged.get(key) is None:
            merged[key] = tuple(value) if isinstance(value, list) else value
    return merged
