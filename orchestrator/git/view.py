"""The read side of a repository for long-lived processes, through GitPython.

Reading a ref is a file read (loose ref or packed-refs) that GitPython does in-process: a branch
lookup takes microseconds where a `git rev-parse` process costs milliseconds. The daemon, the
dashboard and the API's views read refs and branches many times per second of use, so they go
through a RepoView. What GitPython does not model safely stays on the command line in repo.py:
worktrees, merges, and compare-and-swap ref updates (`update-ref NEW OLD`). Runners, whose
start-up time matters, never import this module (GitPython costs ~60 ms of imports).

One RepoView per process and repository; close() ends the `git cat-file` helpers GitPython keeps
once an object was read.
"""

from __future__ import annotations

from pathlib import Path

import git as gitpython
from git.refs.symbolic import SymbolicReference

from orchestrator.base.errors import GitError


class RepoView:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        try:
            self._repo = gitpython.Repo(self.path)
        except (gitpython.InvalidGitRepositoryError, gitpython.NoSuchPathError) as exc:
            raise GitError(["git", "-C", str(self.path), "rev-parse"], None, "",
                           why=f"{self.path} is not a git repository") from exc

    def close(self) -> None:
        self._repo.close()

    def __enter__(self) -> RepoView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def branch_exists(self, branch: str) -> bool:
        return self.head_commit(f"refs/heads/{branch}") is not None

    def head_commit(self, ref: str) -> str | None:
        """The commit a ref (HEAD, refs/heads/x, or a branch name) points at, or None when there is
        no such ref. A file read (loose ref or packed-refs), no git process and no object lookup."""
        names = (ref,) if ref == "HEAD" or ref.startswith("refs/") else (f"refs/heads/{ref}", f"refs/tags/{ref}")
        for name in names:
            try:
                return SymbolicReference.dereference_recursive(self._repo, name)
            except (ValueError, OSError):
                continue
        return None

    def branches(self, prefix: str) -> dict[str, str]:
        """Branches under prefix -> the commit each points at."""
        return {head.name: SymbolicReference.dereference_recursive(self._repo, head.path)
                for head in self._repo.heads if head.name.startswith(prefix)}

    def commits_ahead(self, branch: str, base: str) -> int:
        """Commits on branch that base does not have (what a review looks at)."""
        try:
            return sum(1 for _ in self._repo.iter_commits(f"{base}..{branch}"))
        except gitpython.GitCommandError:
            return 0

    def diff(self, base: str, branch: str) -> str:
        """What branch changes since it left base (three-dot: against the merge base)."""
        try:
            return self._repo.git.diff(f"{base}...{branch}")
        except gitpython.GitCommandError as exc:
            status = exc.status if isinstance(exc.status, int) else None
            raise GitError(["git", "diff", f"{base}...{branch}"], status, str(exc.stderr)) from None
