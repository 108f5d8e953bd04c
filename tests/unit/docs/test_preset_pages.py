"""docs/presets/: one page per preset, showing what the preset really sets, for the version CI pins."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from orchestrator.formats.presets import INSTRUCTION, PRESETS

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = {"claude-code": "@anthropic-ai/claude-code", "codex": "@openai/codex", "gemini": "@google/gemini-cli",
            "opencode": "opencode-ai", "aider": "aider-chat"}


def pinned_versions() -> dict[str, str]:
    """package -> version, from .ci/agent-clis.txt (`npm PKG@VERSION` or `pip PKG==VERSION EXE`)."""
    versions = {}
    for line in (ROOT / ".ci" / "agent-clis.txt").read_text().splitlines():
        if line.startswith(("npm ", "pip ")):
            package, _, version = re.split(r"(@|==)(?=[\d.]+$)", line.split()[1])
            versions[package] = version
    return versions


def test_every_preset_has_a_page_and_a_pinned_cli():
    assert set(PACKAGES) == set(PRESETS)
    assert set(PACKAGES.values()) <= set(pinned_versions())


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_the_page_shows_what_the_preset_sets_for_the_pinned_version(name):
    page = (ROOT / "docs" / "presets" / f"{name}.md").read_text()
    assert f"verified with {'aider-chat ' if name == 'aider' else ''}{pinned_versions()[PACKAGES[name]]})" \
        in page.splitlines()[0]
    shown = yaml.safe_load(re.search(r"```yaml\n(.*?)```", page, re.S).group(1))
    for key, value in PRESETS[name].items():
        if key == "command":  # the page shortens the instruction to "Read the task in {prompt_file} ..."
            value = ["..." if arg == INSTRUCTION else arg for arg in value]
            shown[key] = ["..." if str(arg).endswith("...") else arg for arg in shown[key]]
        assert shown.get(key) == value, f"docs/presets/{name}.md shows {key}: {shown.get(key)!r}, the preset {value!r}"
    assert "## Reaching your own endpoint" in page and "proxy" in page.lower()
