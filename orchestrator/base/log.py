"""structlog, configured once: JSON lines into the state directory, readable lines on a terminal."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

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


def configured() -> bool:
    return _configured_for is not None


def configure(log_file: Path | None = None, *, verbose: bool = False, to_terminal: bool = True) -> None:
    """Send log events to log_file as JSON lines and, when asked, to stderr as readable lines."""
    global _configured_for
    key = (str(log_file), verbose, to_terminal)
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
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
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
