"""Agent presets: `preset: claude-code` in agents.yaml expands to the tool's non-interactive command line.

Every key a preset sets can be overridden on the agent, key by key. The instruction points the
tool at the prompt file (task text never passes through a shell or a command-line string of
ours). Written against each tool's documented flags as of November 2026:

- claude-code: Claude Code 2.x, print mode (`claude -p`), `--permission-mode bypassPermissions`
  (edits and commands without asking; Claude Code refuses this as root outside a sandbox).
- codex: OpenAI Codex CLI, `codex exec` with `--sandbox workspace-write` (the replacement for the
  deprecated `--full-auto`).
- aider: aider 0.8x, `--message-file` (one message, then exit), `--yes-always`; aider commits itself.
- gemini: Gemini CLI, headless `-p` with `--approval-mode yolo` (`--yolo` is deprecated).
- opencode: OpenCode, `opencode run`.
"""

from __future__ import annotations

INSTRUCTION = ("Read the task in {prompt_file} and carry it out in this repository. "
               "Commit your work with git when you are done.")

PRESETS: dict[str, dict] = {
    "claude-code": {
        "command": ["claude", "-p", INSTRUCTION, "--permission-mode", "bypassPermissions", "--output-format", "text"],
        "env_passthrough": ["ANTHROPIC_API_KEY", "ANTHROPIC_*", "CLAUDE_CODE_*", "CLAUDE_CONFIG_DIR"],
        "usage_limit_patterns": ["usage limit reached", "Claude AI usage limit"],
    },
    "codex": {
        "command": ["codex", "exec", "--sandbox", "workspace-write", INSTRUCTION],
        "env_passthrough": ["OPENAI_API_KEY", "OPENAI_*", "CODEX_HOME"],
        "usage_limit_patterns": ["usage limit", "rate limit reached"],
    },
    "aider": {
        "command": ["aider", "--message-file", "{prompt_file}", "--yes-always", "--no-pretty", "--no-stream"],
        "env_passthrough": ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AIDER_*", "OPENROUTER_API_KEY"],
        "usage_limit_patterns": ["RateLimitError", "usage limit"],
    },
    "gemini": {
        "command": ["gemini", "-p", INSTRUCTION, "--approval-mode", "yolo"],
        "env_passthrough": ["GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_*"],
        "usage_limit_patterns": ["quota exceeded", "RESOURCE_EXHAUSTED"],
    },
    "opencode": {
        "command": ["opencode", "run", INSTRUCTION],
        "env_passthrough": ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENCODE_*"],
        "usage_limit_patterns": ["usage limit", "rate limit"],
    },
}


def expand(preset: str, agent: dict) -> dict:
    """The agent's mapping with the preset's keys filled in wherever the agent does not set them."""
    merged = dict(agent)
    for key, value in PRESETS[preset].items():
        if merged.get(key) is None:
            merged[key] = tuple(value) if isinstance(value, list) else value
    return merged
