"""structlog, configured once: JSON lines into the state directory, readable lines on a terminal.

The JSON log rotates by size although many processes append to it at once (the daemon, every
runner, the CLI): each opens it with O_APPEND and writes a line in one write(); whichever
finds it over max_bytes takes the rotation lock (a FileLock next to the log, `<log>.lock`),
looks again, and renames it to `<log>.1` (older generations shift up to `<log>.<keep>`, the
oldest is dropped); every writer checks the name's inode before each line and reopens when
it changed (WatchedFileHandler), so a line written at the moment of rotation lands, whole, in
the generation just renamed.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path
from typing import Any

from orchestrator.base.locks import FileLock

# structlog imports rich at import time whenever it is installed (~90 ms and ~10 MB per process),
# only to pretty-print tracebacks on a terminal. Every CLI call and every runner would pay that, so
# structlog is imported with rich hidden; `status --watch` imports rich itself when it needs it.
_hidden = "rich" not in sys.modules
if _hidden:
    sys.modules["rich"] = None  # type: ignore[assignment]
try:
    import structlog
finally:
    if _hidden:
        del sys.modules["rich"]

from orchestrator.base.redact import structlog_processor  # noqa: E402

_configured_for: tuple | None = None
MAX_BYTES = 20 * 1024 * 1024  # a generation of the JSON log
KEEP = 5  # rotated generations kept besides the live file


HARD_LIMIT_FACTOR = 1.25  # a file this far past max_bytes makes its writers wait for the rotation
HARD_LIMIT_WAIT_SECONDS = 5.0  # then they write anyway: a line is never dropped for the limit's sake


class SharedFileHandler(logging.handlers.WatchedFileHandler):
    """A file handler that many processes share, rotating the file by size (see the module's doc)."""

    def __init__(self, path: Path, *, max_bytes: int = MAX_BYTES, keep: int = KEEP):
        super().__init__(path, encoding="utf-8")
        self.path, self.max_bytes, self.keep = path, max_bytes, keep
        self.lock_path = lock_path(path)

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)  # reopens if rotated meanwhile, then one write() of the whole line
        try:
            size = os.fstat(self.stream.fileno()).st_size if self.stream is not None else 0
            if size >= self.max_bytes:
                # Past the soft limit a writer rotates only if nobody else is; past the hard one it
                # waits for the rotation under way (shifting many generations takes a while) instead
                # of growing the new file without bound meanwhile.
                self.rotate(wait=HARD_LIMIT_WAIT_SECONDS if size >= self.max_bytes * HARD_LIMIT_FACTOR else 0)
        except OSError:
            self.handleError(record)

    def rotate(self, wait: float = 0) -> None:
        with FileLock(self.lock_path).attempt(timeout=wait) as got:
            if not got:
                return  # another process is rotating it right now
            try:
                seen = os.stat(self.path)
            except FileNotFoundError:
                return
            if seen.st_size < self.max_bytes or (seen.st_dev, seen.st_ino) != (self.dev, self.ino):
                return  # rotated by someone else since we looked: our next line reopens
            if self.keep <= 0:
                os.unlink(self.path)
            else:  # the live file first, so writers move on at once; then the older ones shift up
                aside = generation(self.path, 0)
                if aside.exists():  # left by a rotation cut short: it is the newest generation
                    self._shift()
                    os.replace(aside, generation(self.path, 1))
                os.replace(self.path, aside)
                self._shift()
                os.replace(aside, generation(self.path, 1))
        self.reopenIfNeeded()

    def _shift(self) -> None:
        prefix = self.path.name + "."
        present = {int(name[len(prefix):]) for name in os.listdir(self.path.parent)
                   if name.startswith(prefix) and name[len(prefix):].isdigit()}
        for n in sorted((n for n in present if 0 < n < self.keep), reverse=True):
            os.replace(generation(self.path, n), generation(self.path, n + 1))  # over the oldest: dropped
        for n in present:
            if n > self.keep:  # kept by an earlier, larger `keep`
                generation(self.path, n).unlink(missing_ok=True)


def generation(path: Path, n: int) -> Path:
    """The n-th rotated generation of a log: <log>.1 is the newest (<log>.0 only while rotating)."""
    return path.with_name(f"{path.name}.{n}")


def lock_path(path: Path) -> Path:
    """Held while the log is rotated."""
    return path.with_name(f"{path.name}.lock")


def configured() -> bool:
    return _configured_for is not None


def configure(log_file: Path | None = None, *, verbose: bool = False, to_terminal: bool = True,
              max_bytes: int = MAX_BYTES, keep: int = KEEP) -> None:
    """Send log events to log_file as JSON lines (rotated past max_bytes, keep generations kept)
    and, when asked, to stderr as readable lines."""
    global _configured_for
    key = (str(log_file), verbose, to_terminal, max_bytes, keep)
    if _configured_for == key:
        return
    _configured_for = key
    handlers: list[logging.Handler] = []
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog_processor,
    ]
    file_handler = None
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            file_handler = SharedFileHandler(log_file, max_bytes=max_bytes, keep=keep)
        except OSError as exc:
            # A read-only or full state directory: read-only commands still work, and a command that
            # must write fails at its own write with the one clear storage error.
            print(f"orchestrator: cannot write the log {log_file}: {exc.strerror}", file=sys.stderr)
    if file_handler is not None:
        file_handler.setFormatter(structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        structlog.processors.format_exc_info,
                        structlog.processors.JSONRenderer()],
            foreign_pre_chain=shared))
        handlers.append(file_handler)
    if to_terminal:
        term = logging.StreamHandler(sys.stderr)
        term.setFormatter(structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())],
            foreign_pre_chain=shared))
        term.setLevel(logging.DEBUG if verbose else logging.INFO)
        handlers.append(term)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    structlog.configure(
        processors=shared + [structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def get(name: str = "orchestrator") -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
