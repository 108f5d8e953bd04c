"""Every git call the orchestrator makes: worktrees, branches, commits ahead of base.

We call the git command line through commands.run rather than GitPython: worktree commands
are not modelled by GitPython anyway (it shells out for them), a long-lived daemon then
holds no `git cat-file` helper processes, and every failure shows the command and output.

Operations that change the repository's shared metadata (worktree add/remove/prune,
branch creation) hold a lock file in the common git directory: git's own index.lock
and worktree bookkeeping make parallel `git worktree add` fail otherwise.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from orchestrator.base import commands
from orchestrator.base.errors import GitError
from orchestrator.base.locks import FileLock
from orchestrator.formats.layout import git_common_dir
from orchestrator.git import files

FALLBACK_IDENTITY = {"GIT_AUTHOR_NAME": "orchestrator", "GIT_AUTHOR_EMAIL": "orchestrator@localhost",
                     "GIT_COMMITTER_NAME": "orchestrator", "GIT_COMMITTER_EMAIL": "orchestrator@localhost"}


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Our environment without GIT_* variables: a GIT_DIR inherited from a hook would redirect every call."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.update(extra or {})
    return env


MOVED_ASIDE_PREFIX = ".removing-"


class Repo:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._common_dir: Path | None = None

    def git(self, *args: str, cwd: Path | None = None, check: bool = True, env: dict | None = None) -> str:
        done = commands.run(["git", *args], cwd=cwd or self.path, env=clean_env(env), check=check, error=GitError)
        return done.stdout if done.returncode == 0 or check else ""

    def ok(self, *args: str, cwd: Path | None = None) -> bool:
        done = commands.run(["git", *args], cwd=cwd or self.path, env=clean_env(), check=False, error=GitError)
        return done.returncode == 0

    # ---- the repository -----------------------------------------------------------

    @property
    def common_dir(self) -> Path:
        if self._common_dir is None:
            found = git_common_dir(self.path)  # from the files git keeps: no process
            if found is None:
                found = (self.path / self.git("rev-parse", "--git-common-dir").strip()).resolve()
            self._common_dir = found
        return self._common_dir

    def branch_commit(self, branch: str) -> str | None:
        """The commit a branch points at, read from the ref files (loose, then packed-refs) without a
        git process; through git where the files cannot answer (a reftable, a symbolic ref)."""
        known, commit = files.branch_from_files(self.common_dir, branch)
        if known:
            return commit
        out = self.git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", check=False).strip()
        return out or None

    def problem(self, base_branch: str) -> str | None:
        """Why this repository cannot be worked on, or None."""
        if not self.path.is_dir():
            return f"repo {self.path} does not exist (set 'repo' in agents.yaml to a git repository)"
        if shutil.which("git", path=clean_env().get("PATH")) is None:  # the file readers below need no git; work does
            return str(GitError(["git"], None, "", why="'git' not found on PATH"))
        plain = files.plain_checkout(self.path)
        if plain is None:
            try:
                inside = self.git("rev-parse", "--is-inside-work-tree", check=False).strip()
            except GitError as exc:
                return str(exc)
            if inside != "true":
                return f"repo {self.path} is not a git repository (run 'git init' there, or fix 'repo' in agents.yaml)"
        if not self.branch_exists(base_branch):
            if self.git("rev-parse", "--verify", "-q", "HEAD", check=False).strip() == "":
                return (f"{self.path} has no commits yet: tasks branch from '{base_branch}', so commit "
                        "something first (git commit --allow-empty -m 'start' will do)")
            return (f"base branch '{base_branch}' does not exist in {self.path} "
                    "(create it, or set 'base_branch' in agents.yaml)")
        for marker in ("rebase-merge", "rebase-apply"):
            path = plain / marker if plain is not None else Path(self.git("rev-parse", "--git-path", marker).strip())
            if (path if path.is_absolute() else self.path / path).exists():
                return (f"{self.path} is in the middle of a rebase ('git rebase --continue' or "
                        "'git rebase --abort' there first)")
        return None

    @contextmanager
    def metadata_lock(self) -> Iterator[None]:
        """Serializes changes to git's own bookkeeping (worktree registrations, refs we move)."""
        with FileLock(self.common_dir / "orchestrator.lock"):
            yield

    @staticmethod
    def create(path: Path, branch: str = "main") -> Repo:
        """A new repository with one commit on branch (for the demo and for tests)."""
        path.mkdir(parents=True, exist_ok=True)
        repo = Repo(path)
        repo.git("init", "--quiet", "-b", branch)
        repo.git("add", "--all")
        repo.git("commit", "--quiet", "--allow-empty", "-m", "initial commit", env=FALLBACK_IDENTITY)
        return repo

    def current_branch(self) -> str | None:
        out = self.git("symbolic-ref", "--quiet", "--short", "HEAD", check=False).strip()
        return out or None

    def branch_exists(self, branch: str) -> bool:
        return self.branch_commit(branch) is not None

    def exclude(self, pattern: str) -> None:
        """Make git ignore pattern in every worktree of this repository (the common info/exclude),
        adding the line once; the person's own lines stay as they are."""
        path = self.common_dir / "info" / "exclude"
        with self.metadata_lock():
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:
                text = ""
            if pattern in text.splitlines():
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(("" if not text or text.endswith("\n") else "\n") + pattern + "\n")

    def changes(self, base: str, branch: str) -> dict[str, list[str]]:
        """What branch changes since it left base: path -> the lines it adds or removes ("+x", "-y")."""
        out = self.git("diff", "--no-color", "--no-ext-diff", "--unified=0", f"{base}...{branch}")
        changes: dict[str, list[str]] = {}
        path = None
        for line in out.splitlines():
            if line.startswith("diff --git "):
                path = line.split(" b/", 1)[-1]
                changes[path] = []
            elif path is not None and line[:1] in "+-" and not line.startswith(("+++", "---")):
                changes[path].append(line)
        return changes

    def commits_ahead(self, branch: str, base: str) -> int:
        """`git rev-list --count base..branch`. Where the branch's newest commits are a line of loose
        objects (one parent each) down to base's commit, as an agent's fresh commits are, they are
        counted from the object files without a git process; git counts everything else."""
        common = self.common_dir
        tip, stop = self.branch_commit(branch), self.branch_commit(base)
        if tip is not None and stop is not None and not any(files.outranks_branch(common, n) for n in (branch, base)):
            counted = files.line_length(common, tip, stop)
            if counted is not None:
                return counted
        return int(self.git("rev-list", "--count", f"{base}..{branch}").strip() or 0)

    def head_commit(self, ref: str) -> str:
        return self.git("rev-parse", "--verify", f"{ref}^{{commit}}").strip()

    # ---- worktrees ----------------------------------------------------------------

    def linked_worktrees(self) -> dict[Path, str | None]:
        """The registered linked worktrees (not the main checkout): path -> branch (None when detached).

        Read from the files `git worktree list` reads ($common/worktrees/<id>/gitdir and HEAD), without
        a git process; through git where the files do not say it plainly (files.linked_worktrees)."""
        found = files.linked_worktrees(self.common_dir)
        if found is not None:
            return found
        return dict(list(self.worktrees().items())[1:])  # git names the main checkout first

    def worktrees(self) -> dict[Path, str | None]:
        """Registered worktrees, the main checkout first: path -> branch (None when detached)."""
        found: dict[Path, str | None] = {}
        current: Path | None = None
        for line in self.git("worktree", "list", "--porcelain").splitlines():
            if line.startswith("worktree "):
                current = Path(line[len("worktree "):])
                found[current] = None
            elif line.startswith("branch ") and current is not None:
                found[current] = line[len("branch "):].removeprefix("refs/heads/")
        return found

    def head_ref(self, worktree: Path) -> str:
        """The ref the worktree's HEAD names ("refs/heads/x"), "" when detached: `git symbolic-ref
        --quiet HEAD`, read from its HEAD file where that says it plainly."""
        private = files.private_dir(worktree)
        if private is not None:
            said = files.head_says(self.common_dir, files.head_file(private))
            if said is not None:
                return said
        return self.git("symbolic-ref", "--quiet", "HEAD", cwd=worktree, check=False).strip()

    def head_reflog(self, worktree: Path) -> list[str]:
        """The commits the worktree's HEAD has pointed at, newest first: `git reflog show --format=%H
        HEAD`, read from its logs/HEAD file where HEAD plainly names a commit (files.head_reflog says
        where the two can differ). On an unborn branch git has no HEAD to show the log of: none."""
        common, private = self.common_dir, files.private_dir(worktree)
        said = None if private is None else files.head_says(common, files.head_file(private))
        if private is not None and said is not None:
            known, commit = files.branch_from_files(common, said.removeprefix("refs/heads/")) if said else (True, "")
            if known:
                return files.head_reflog(private) if commit is not None else []
        return self.git("reflog", "show", "--format=%H", "HEAD", cwd=worktree, check=False).split()

    # ---- review -------------------------------------------------------------------

    def diff(self, base: str, branch: str, *, stat: bool = False) -> str:
        """What the branch changes relative to where it left base (what a reviewer reads): three dots,
        against the merge base, so commits made on base since do not show as undone. Plain text."""
        return self.git("diff", "--no-color", *(["--stat"] if stat else []), f"{base}...{branch}")

    def page_diff(self, base: str, branch: str, *, stat: bool = False) -> int:
        """The same diff on our own terminal, as `git diff` shows it there: through the person's pager
        (GIT_PAGER, core.pager, PAGER) and in their colours. Returns git's exit code."""
        keep = {name: os.environ[name] for name in ("GIT_PAGER",) if name in os.environ}
        return commands.run_attached(["git", "diff", *(["--stat"] if stat else []), f"{base}...{branch}"],
                                     cwd=self.path, env=clean_env(keep))

    def merge_base(self, base: str, branch: str) -> str | None:
        """The commit where branch left base (the newest one both have), or None when they share none."""
        return self.git("merge-base", base, branch, check=False).strip() or None

    def is_ancestor(self, commit: str, of: str) -> bool:
        return self.ok("merge-base", "--is-ancestor", commit, of)

    def identity(self, cwd: Path | None = None) -> dict[str, str] | None:
        """Who our commits are by: the repository's user, else the orchestrator's fallback name."""
        return None if self.ok("config", "user.email", cwd=cwd) else FALLBACK_IDENTITY

    def status(self, worktree: Path, *, ignoring: tuple[str, ...] = ()) -> WorktreeStatus:
        """What is uncommitted in worktree, besides paths matching the `ignoring` patterns: one
        `git status`, which also names the files a merge left in conflict."""
        out = self.git("status", "--porcelain", "-z", "--untracked-files=all", "--", ".", *_excluding(ignoring),
                       cwd=worktree)
        return WorktreeStatus.parse(out)

    def is_dirty(self, worktree: Path, *, ignoring: tuple[str, ...] = ()) -> bool:
        """Anything uncommitted in worktree, besides paths matching the `ignoring` patterns?"""
        return bool(self.status(worktree, ignoring=ignoring).paths)

    def unmerged_files(self, worktree: Path) -> list[str]:
        """Files a merge left in conflict in worktree (not yet resolved with `git add`)."""
        return self.git("diff", "--name-only", "--diff-filter=U", cwd=worktree).split()

    def commit_all(self, worktree: Path, message: str, *, ignoring: tuple[str, ...] = (),
                   seen: WorktreeStatus | None = None) -> bool:
        """Commit everything the agent left in worktree but paths matching `ignoring` (what agent tools
        write for themselves: aider's chat history, say); False when there was nothing.
        seen: the worktree's status(ignoring=...), taken by the caller with nothing run there since.

        The commit does not run git's automatic maintenance after itself, as `git commit` would:
        that is the caller's to run with maintain(), once the task has moved on."""
        if not (seen if seen is not None else self.status(worktree, ignoring=ignoring)).paths:
            return False
        self.git("add", "--all", "--", ".", *_excluding(ignoring), cwd=worktree)
        commit = ("-c", "maintenance.auto=false", "commit", "--quiet", "--no-verify", "-m", message)
        try:  # with the identity git is configured with; no guessing one from the host's name
            self.git("-c", "user.useConfigOnly=true", *commit, cwd=worktree)
        except GitError:
            # No configured identity, or one half of it: as before, the fallback identity only when
            # no user.email is configured, else git's own (it may still guess the name).
            self.git(*commit, cwd=worktree, env=self.identity(worktree))
        return True

    def maintain(self) -> None:
        """What `git commit` runs after itself, run later by commit_all's caller: `git maintenance
        run --auto` (it packs loose objects once there are many, else does nothing), unless the
        repository turned it off (maintenance.auto false). A git too old for it is no error: its
        commit ran `gc --auto` itself."""
        if self.git("config", "--type=bool", "--default=true", "maintenance.auto", check=False).strip() == "false":
            return
        self.git("maintenance", "run", "--auto", "--quiet", check=False)

    def set_aside(self, worktree: Path, patch: Path, *, ignoring: tuple[str, ...] = ()) -> bool:
        """Save what is uncommitted in worktree (untracked files too, binary-safe) as a patch at `patch`,
        then return the worktree to its last commit; gitignored files (a venv, build output) stay.
        False, and nothing touched, when there was nothing. The patch is on disk, synced, before
        anything is removed: `git apply PATCH` in the worktree brings it all back."""
        if not self.is_dirty(worktree, ignoring=ignoring):
            return False
        spec = ["--", ".", *_excluding(ignoring)]
        self.git("add", "--all", *spec, cwd=worktree)
        self.git("diff", "--cached", "--binary", f"--output={patch}", "HEAD", cwd=worktree)
        with open(patch, "rb") as fh:
            os.fsync(fh.fileno())
            if not fh.read(1):
                raise GitError(["git", "diff", "--cached"], None, "", why=f"{worktree}: changes seen but the patch is empty")
        self.git("reset", "--hard", "--quiet", "HEAD", cwd=worktree)
        self.git("clean", "-d", "--force", "--quiet", *spec, cwd=worktree)
        return True


UNMERGED = frozenset({"DD", "AU", "UD", "UA", "DU", "AA", "UU"})  # git status's codes for a conflict


@dataclass(frozen=True)
class WorktreeStatus:
    """`git status --porcelain -z`, read: every path with uncommitted changes (a rename's new
    name), and those of them a merge left in conflict."""

    paths: tuple[str, ...] = ()
    unmerged: tuple[str, ...] = ()

    @classmethod
    def parse(cls, out: str) -> WorktreeStatus:
        paths, unmerged = [], []
        fields = iter(out.split("\0"))
        for entry in fields:
            if len(entry) < 4:
                continue
            code, path = entry[:2], entry[3:]
            if "R" in code or "C" in code:
                next(fields, None)  # -z puts a rename's old name in a field of its own, after the new
            paths.append(path)
            if code in UNMERGED:
                unmerged.append(path)
        return cls(tuple(paths), tuple(unmerged))


def _excluding(patterns: tuple[str, ...]) -> list[str]:
    """Pathspecs leaving out the patterns (fnmatch-like, from the worktree's top; `*` crosses `/`)."""
    return [f":(top,exclude){pattern}" for pattern in patterns]
