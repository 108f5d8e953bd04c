"""Writes that survive a crash: complete files or nothing.

The recipe is the one mail servers use: write a temporary file in the same directory,
fsync it, rename it over the target, fsync the directory. A reader never sees half a file.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
from pathlib import Path

from orchestrator.base.errors import DiskFullError, StorageError
from orchestrator.base.faults import crash_point

TMP_PREFIX = ".tmp-"


def fsync_dir(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def storage_error(exc: OSError, path: Path | str, doing: str = "write to") -> Exception:
    """The one clear error for a filesystem that refuses us, or the original error."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(f"disk full: could not {doing} {path} (free some space; nothing was lost)")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StorageError(f"cannot {doing} {path}: {exc.strerror} (check the directory's permissions "
                            "and that its filesystem is writable; nothing was changed)")
    return exc


def make_dirs(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if path.is_dir():
            return
        raise storage_error(exc, path, "create") from exc


def _write_tmp(directory: Path, data: bytes, stem: str, mode: int = 0o644, sync: bool = True) -> Path:
    tmp = directory / f"{TMP_PREFIX}{stem}-{secrets.token_hex(4)}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise storage_error(exc, tmp.parent) from exc
    return tmp


def write_atomic(path: str | Path, data: bytes | str, mode: int = 0o644) -> None:
    """Replace path with data, atomically and durably."""
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    tmp = _write_tmp(path.parent, raw, path.name, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    fsync_dir(path.parent)


def write_cache(path: str | Path, data: bytes | str) -> None:
    """Replace a cache file atomically but without fsync: losing it costs a re-read, not data."""
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.parent / f"{TMP_PREFIX}{path.name}-{secrets.token_hex(4)}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(raw)
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def publish_new(path: str | Path, data: bytes | str) -> bool:
    """Create path with data only if it does not exist yet; False if it already did.

    A hard link of a complete temporary file is atomic and never replaces an existing
    file, so a reader sees the whole file or none, and two writers cannot both win.
    """
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    tmp = _write_tmp(path.parent, raw, path.name)
    crash_point("enqueue_before_publish")
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        _unlink_quietly(tmp)
    fsync_dir(path.parent)
    return True


def stage_unsynced(path: Path, data: bytes) -> Path:
    """A complete temporary file beside path, not yet synced: for publish_staged after sync_filesystem."""
    return _write_tmp(path.parent, data, path.name, sync=False)


def sync_filesystem(path: Path) -> None:
    """Flush every file written on path's filesystem: one syncfs(2) instead of a thousand fsyncs
    (a batch of new files), os.sync() where syncfs is missing."""
    import ctypes  # only batch writers need it

    syncfs = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if syncfs is None or syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def publish_staged(tmp: Path, path: Path) -> bool:
    """publish_new for a staged file that sync_filesystem has flushed: link it into place (never
    replacing a file), remove the temporary name; False if path existed. The caller fsyncs the
    directory once for the batch."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        _unlink_quietly(tmp)
    return True


def discard(tmp: Path) -> None:
    _unlink_quietly(tmp)


def write_json_atomic(path: str | Path, record: dict, mode: int = 0o644) -> None:
    write_atomic(path, json.dumps(record, indent=1, sort_keys=True) + "\n", mode)


def create_json_exclusive(path: str | Path, record: dict) -> bool:
    """Create a JSON record that must exist at most once (an owner, a claim)."""
    return publish_new(path, json.dumps(record, indent=1, sort_keys=True) + "\n")


def read_json(path: str | Path) -> dict | None:
    """The record at path, or None when it does not exist (or is not a complete record)."""
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read())
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:
        if os.path.lexists(path):  # a read-only filesystem says EROFS even for a file that is not there
            raise
