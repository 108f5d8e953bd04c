"""The file queue's folders as files on a disk: each a real directory, all on one filesystem, and
the temporary files a crash left in them."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from orchestrator.base import durable
from orchestrator.base.errors import StateError


def plain_dir(path: Path) -> os.stat_result | None:
    """path's status when it is a plain directory, None when it does not exist; StateError when a
    symbolic link or a file stands in its place (it would make us read and move files elsewhere)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise StateError(f"{path} is not a plain directory (it is a symbolic link or a file); "
                         f"replace it with a directory: nothing in the queue is touched until then")
    return info


def check_tree(root: Path, state_dir: Path, dirs: list[Path]) -> None:
    """Every one of dirs a plain directory, and all of them, root and state_dir on root's filesystem:
    tasks move by rename, which cannot cross one."""
    devices = {}
    for path in dirs:
        info = plain_dir(path)
        if info is not None:
            devices[path] = info.st_dev
    for path in (root, state_dir):
        try:
            devices[path] = os.stat(path).st_dev
        except FileNotFoundError:
            continue
    home = devices.get(root)
    apart = [str(path) for path, device in devices.items() if home is not None and device != home]
    if apart:
        raise StateError(f"{', '.join(apart)} {'is' if len(apart) == 1 else 'are'} on another filesystem than "
                         f"{root}: tasks move between them by rename, which cannot cross filesystems; "
                         "put queue_dir and state_dir on one filesystem (nothing was moved)")


def sweep_temp_files(dirs: list[Path], max_age: float) -> int:
    """Delete the temporary files in dirs older than max_age (a live writer's are younger); how many."""
    removed = 0
    cutoff = time.time() - max_age
    for path in dirs:
        try:
            entries = list(os.scandir(path))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.name.startswith(durable.TMP_PREFIX):
                try:
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.path)
                        removed += 1
                except FileNotFoundError:
                    continue
    return removed


def mtime_or_zero(entry: os.DirEntry) -> float:
    try:
        return entry.stat(follow_symlinks=False).st_mtime
    except FileNotFoundError:
        return 0.0
