"""The two kinds of error.

Expected errors (bad config, bad task file, git refused, unknown task) derive from
OrchestratorError: the CLI prints their message as one line and exits with their code.
Anything else is a bug or an environment failure and is logged with its traceback.
"""

from __future__ import annotations


class OrchestratorError(Exception):
    """An expected error with a message meant for the user."""

    exit_code = 1


class ConfigError(OrchestratorError):
    exit_code = 2


class TaskFileError(OrchestratorError):
    exit_code = 2


class UsageError(OrchestratorError):
    exit_code = 2


class NotFoundError(OrchestratorError):
    exit_code = 1


class StateError(OrchestratorError):
    """The task is not in a state that allows the requested operation."""

    exit_code = 1


class CommandError(OrchestratorError):
    """A subprocess failed: the message shows the command, its exit code and its output."""

    def __init__(self, cmd: list[str], returncode: int | None, output: str, why: str = ""):
        self.cmd = list(cmd)
        self.returncode = returncode
        self.output = output
        shown = " ".join(self.cmd)
        head = why or (f"exit code {returncode}" if returncode is not None else "could not run")
        text = output.strip()
        if len(text) > 2000:
            text = "..." + text[-2000:]
        super().__init__(f"command failed ({head}): {shown}" + (f"\n{text}" if text else ""))


class GitError(CommandError):
    pass


class MergeRefusedError(OrchestratorError):
    """Landing a branch was refused before anything changed (a conflict, a busy checkout, a race)."""

    exit_code = 1


class DiskFullError(OrchestratorError):
    exit_code = 3


class StorageError(OrchestratorError):
    """A directory we must write is not writable (permissions, a read-only filesystem)."""

    exit_code = 3


class QueueUnavailableError(OrchestratorError):
    """The queue's database could not be reached for one call (a restart, a network cut): nothing of
    that call happened, and the next call connects again."""

    exit_code = 3
