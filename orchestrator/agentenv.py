"""The environment an agent runs in: controlled, so the daemon's own setup does not leak in."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

# Variables that tie a process to the orchestrator's own Python: an agent that ran
# `pip install` with them set would install into the daemon's virtualenv.
LEAKY = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "__PYVENV_LAUNCHER__",
         "CONDA_PREFIX", "CONDA_DEFAULT_ENV")
INTERNAL_PREFIXES = ("ORCH_", "ORCHESTRATOR_")


def _daemon_venv_bin() -> str | None:
    if sys.prefix != sys.base_prefix:
        return os.path.join(sys.prefix, "bin")
    venv = os.environ.get("VIRTUAL_ENV")
    return os.path.join(venv, "bin") if venv else None


def agent_environment(base: Mapping[str, str], extra: Mapping[str, str], orch: Mapping[str, str]) -> dict[str, str]:
    """base minus leaky and internal variables and the venv's bin on PATH, plus extra, plus ORCH_* values."""
    env = {k: v for k, v in base.items()
           if k not in LEAKY and not k.startswith(INTERNAL_PREFIXES) and not k.startswith("GIT_")}
    venv_bin = _daemon_venv_bin()
    if venv_bin and "PATH" in env:
        env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p and p != venv_bin)
    env.update(extra)
    env.update(orch)
    return env
