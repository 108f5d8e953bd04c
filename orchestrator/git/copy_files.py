"""Making a fresh worktree ready to work in: the gitignored files a project needs.

copy_files names paths or glob patterns relative to the main checkout (.env, config/*.local).
Only what exists is copied, never over a file the worktree already has, and never from
outside the checkout (patterns are resolved and checked).
"""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

from orchestrator.base.errors import OrchestratorError


def copy_into_worktree(checkout: Path, worktree: Path, patterns: tuple[str, ...]) -> list[str]:
    copied = []
    root = checkout.resolve()
    for pattern in patterns:
        if os.path.isabs(pattern):
            raise OrchestratorError(f"copy_files: {pattern!r} must be relative to the repository")
        for found in sorted(glob.glob(pattern, root_dir=root, recursive=True, include_hidden=True)):
            source = (root / found).resolve()
            if root not in source.parents:
                raise OrchestratorError(f"copy_files: {found!r} is outside the repository {root}")
            target = worktree / found
            if target.exists() or target.is_symlink():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, symlinks=True)
            else:
                shutil.copy2(source, target)
            copied.append(found)
    return copied
