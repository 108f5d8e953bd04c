"""The merge queue's git work: candidates built on the base, scratch worktrees for the check, pushes.

A candidate is a chain of commits built on the base tip, one per branch in queue order, without
touching any checkout the person or an agent uses:

- merge: one merge commit per branch (`merge-tree --write-tree`, then `commit-tree`), always a
  real merge, so the base's first-parent line is exactly the sequence of tested candidates;
- rebase: the branch's own commits replayed onto the candidate in a scratch worktree of ours
  (`git rebase`; git 2.39 has no way to replay commits without a worktree). A branch with merge
  commits since it left the candidate (an agent resolved a conflict by merging the base in) lands
  as one squashed commit instead: a rebase drops merge commits, and with them the resolution, so
  the branch would conflict again every round.

Nothing here moves the base: that is git/merge.move_base, once a candidate passed its check.
Building a candidate creates only unreferenced objects, so a crash part-way leaves nothing to undo.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestrator.base import commands
from orchestrator.base.errors import GitError
from orchestrator.git.repo import Repo, clean_env

MAX_CONFLICT_FILES = 20


@dataclass(frozen=True)
class Conflict:
    """The branch cannot be put on the candidate: these files conflict."""

    files: tuple[str, ...]

    def describe(self, onto: str) -> str:
        shown = ", ".join(self.files[:MAX_CONFLICT_FILES]) or "(git named no file)"
        more = f" and {len(self.files) - MAX_CONFLICT_FILES} more" if len(self.files) > MAX_CONFLICT_FILES else ""
        return f"it conflicts with {onto} in: {shown}{more}"


MAX_SQUASHED_LISTED = 50  # commits named in a squashed commit's message


def stack_merge(repo: Repo, onto: str, branch_tip: str, message: str) -> str | Conflict:
    """A merge commit of branch_tip onto the commit onto (parents: onto, then the branch)."""
    tree = merged_tree(repo, onto, branch_tip)
    if isinstance(tree, Conflict):
        return tree
    return repo.git("commit-tree", tree, "-p", onto, "-p", branch_tip, "-m", message, env=repo.identity()).strip()


def stack_squash(repo: Repo, onto: str, branch_tip: str, message: str) -> str | Conflict:
    """One commit on onto (its only parent) with the tree of onto and branch_tip merged; the message
    is followed by the branch's commits since it left onto's history, so none goes unnamed."""
    tree = merged_tree(repo, onto, branch_tip)
    if isinstance(tree, Conflict):
        return tree
    commits = repo.git("log", "--format=%h %s", f"{onto}..{branch_tip}").splitlines()
    listed = commits[:MAX_SQUASHED_LISTED] + (
        [f"... and {len(commits) - MAX_SQUASHED_LISTED} more"] if len(commits) > MAX_SQUASHED_LISTED else [])
    body = f"{message.rstrip()}\n\nSquashed from {branch_tip[:12]}, its commits:\n" + "\n".join(listed)
    return repo.git("commit-tree", tree, "-p", onto, "-m", body, env=repo.identity()).strip()


def has_merges(repo: Repo, onto: str, branch_tip: str) -> bool:
    """Whether the branch has merge commits that onto's history lacks (a rebase would drop them)."""
    return bool(repo.git("rev-list", "--merges", "-n", "1", f"{onto}..{branch_tip}").strip())


def merged_tree(repo: Repo, onto: str, branch_tip: str) -> str | Conflict:
    """The tree of onto and branch_tip merged (`merge-tree --write-tree`, no checkout), or the conflict."""
    done = commands.run(["git", "merge-tree", "--write-tree", "--name-only", "--no-messages", onto, branch_tip],
                        cwd=repo.path, env=clean_env(), check=False, error=GitError)
    if done.returncode == 1:
        return Conflict(tuple(line for line in done.stdout.splitlines()[1:] if line.strip()))
    if done.returncode != 0:
        raise GitError(list(done.cmd), done.returncode, done.stdout + done.stderr)
    return done.stdout.split()[0]


def stack_rebase(repo: Repo, scratch: Path, onto: str, branch_tip: str) -> str | Conflict:
    """The branch's commits since it left onto's history, replayed onto onto in the scratch worktree;
    returns the last replayed commit (onto itself when nothing is left to replay)."""
    checkout(repo, scratch, branch_tip)
    env = repo.identity(scratch)
    done = commands.run(["git", "rebase", "--quiet", "--onto", onto, repo.git("merge-base", onto, branch_tip).strip()],
                        cwd=scratch, env=clean_env(env), check=False, error=GitError)
    if done.returncode == 0:
        return repo.git("rev-parse", "HEAD", cwd=scratch).strip()
    files = tuple(repo.unmerged_files(scratch))
    repo.git("rebase", "--abort", cwd=scratch, check=False)
    if not files:
        raise GitError(list(done.cmd), done.returncode, done.stdout + done.stderr)
    return Conflict(files)


def checkout(repo: Repo, scratch: Path, commit: str) -> bool:
    """Put our scratch worktree at commit (detached), creating it the first time; True when created.
    What a previous check left in it is reset, except ignored files (a setup's virtualenv, caches)."""
    if not (scratch / ".git").exists():
        with repo.metadata_lock():
            repo.git("worktree", "prune")
            scratch.parent.mkdir(parents=True, exist_ok=True)
            repo.git("worktree", "add", "--quiet", "--force", "--detach", str(scratch), commit)
        return True
    gitdir = Path(repo.git("rev-parse", "--absolute-git-dir", cwd=scratch).strip())
    if (gitdir / "rebase-merge").exists() or (gitdir / "rebase-apply").exists():  # a crash cut a rebase short
        repo.git("rebase", "--abort", cwd=scratch, check=False)
    repo.git("checkout", "--quiet", "--force", "--detach", commit, cwd=scratch)
    repo.git("clean", "-ffdq", cwd=scratch)
    return False


def remove_scratch(repo: Repo, scratch: Path) -> None:
    """Our scratch worktree goes (it holds no one's work: only checked-out candidates)."""
    if not scratch.exists():
        return
    with repo.metadata_lock():
        repo.git("worktree", "remove", "--force", "--force", str(scratch), check=False)
        repo.git("worktree", "prune")


def merge_base_into(repo: Repo, worktree: Path, base: str) -> tuple[str, ...] | None:
    """Merge base into the branch checked out in worktree (a branch the merge queue sent back).
    None: it already contains base. (): merged cleanly (a merge commit). Else the conflicting files,
    left as git leaves them (markers, MERGE_HEAD) for the agent to resolve and commit."""
    if repo.ok("merge-base", "--is-ancestor", base, "HEAD", cwd=worktree):
        return None
    env = repo.identity(worktree)
    done = commands.run(["git", "merge", "--no-ff", "--no-edit", "-m", f"Merge {base} (the merge queue sent this "
                         "branch back)", base], cwd=worktree, env=clean_env(env), check=False, error=GitError)
    if done.returncode == 0:
        return ()
    files = tuple(repo.unmerged_files(worktree))
    if not files:
        repo.git("merge", "--abort", cwd=worktree, check=False)
        raise GitError(list(done.cmd), done.returncode, done.stdout + done.stderr)
    return files


def push(repo: Repo, remote: str, refspecs: list[str]) -> str | None:
    """Push refspecs to remote; None when it worked, else git's own words."""
    done = commands.run(["git", "push", "--quiet", remote, *refspecs], cwd=repo.path, env=clean_env(),
                        check=False, error=GitError, timeout=300)
    return None if done.returncode == 0 else (done.stdout + done.stderr).strip()
