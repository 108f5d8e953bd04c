"""Property: whatever a random run of commits, branches, worktrees, merges, renames, detaches, orphans,
symbolic refs, tags named like branches, pack-refs and gc left behind, Repo's file-reading answers are git's own (git/files.py)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from orchestrator.git import files
from orchestrator.git.repo import Repo

WORKTREES = 3
BRANCHES = ["main", "b1", "b2", "b3", "agent/x", "alias"]


def _git(path: Path, *args: str, check: bool = True) -> str:
    return subprocess.run(["git", "-C", str(path), *args], check=check, capture_output=True, text=True).stdout


_where = st.integers(0, WORKTREES)  # 0 is the main checkout
_branch = st.sampled_from(BRANCHES)
OPS = st.one_of(
    st.tuples(st.just("commit"), _where),
    st.tuples(st.just("commit"), _where),
    st.tuples(st.just("branch"), _branch, _branch),
    st.tuples(st.just("checkout"), _where, _branch),
    st.tuples(st.just("detach"), _where),
    st.tuples(st.just("merge"), _where, _branch),
    st.tuples(st.just("rename"), _branch, _branch),
    st.tuples(st.just("orphan"), _where, _branch),
    st.tuples(st.just("reset"), _where),
    st.tuples(st.just("move-away"), _where),
    st.tuples(st.just("symref"), _branch),  # refs/heads/alias -> the branch
    st.tuples(st.just("tag"), _branch),  # a tag named like a branch: rev-list takes the tag
    st.tuples(st.just("pack-refs")),
    st.tuples(st.just("gc")),
)


class Scene:
    def __init__(self, root: Path):
        self.root = root
        self.repo = root / "repo"
        self.repo.mkdir()
        Repo.create(self.repo)
        _git(self.repo, "config", "user.email", "t@example.com")
        _git(self.repo, "config", "user.name", "T")
        self.places = [self.repo]
        for n in range(1, WORKTREES + 1):
            path = root / "wt" / f"w{n}"
            _git(self.repo, "worktree", "add", "--quiet", "-b", f"w{n}", str(path), "main")
            self.places.append(path)
        self.counter = 0

    def apply(self, op: tuple) -> None:
        kind, *args = op
        where = self.places[args[0]] if kind in ("commit", "checkout", "detach", "merge", "orphan", "reset",
                                                  "move-away") else self.repo
        if not where.exists():
            return  # moved away earlier
        if kind == "commit":
            self.counter += 1
            (where / f"f{self.counter}.txt").write_text(f"{self.counter}\n")
            _git(where, "add", "--all")
            _git(where, "commit", "--quiet", "-m", f"c{self.counter}")
        elif kind == "branch":
            _git(where, "branch", args[0], args[1], check=False)
        elif kind == "checkout":
            _git(where, "checkout", "--quiet", args[1], check=False)  # refused where it is out elsewhere
        elif kind == "detach":
            _git(where, "checkout", "--quiet", "--detach", check=False)
        elif kind == "merge":
            _git(where, "merge", "--quiet", "--no-edit", args[1], check=False)
        elif kind == "rename":
            _git(where, "branch", "-m", args[0], args[1], check=False)
        elif kind == "orphan":
            _git(where, "checkout", "--quiet", "--orphan", f"orphan-{args[1].replace('/', '-')}", check=False)
        elif kind == "reset":
            _git(where, "reset", "--quiet", "--hard", "HEAD~1", check=False)
        elif kind == "symref" and args[0] != "alias":
            _git(where, "symbolic-ref", "refs/heads/alias", f"refs/heads/{args[0]}")
        elif kind == "tag":
            _git(where, "tag", "--force", args[0], check=False)
        elif kind == "move-away" and where != self.repo:
            where.rename(where.with_name(where.name + "-gone"))  # registered, prunable
        elif kind in ("pack-refs", "gc"):
            _git(where, "pack-refs", "--all") if kind == "pack-refs" else _git(where, "gc", "--quiet")

    def check(self) -> None:
        r = Repo(self.repo)
        listed = dict(list(r.worktrees().items())[1:])
        assert r.linked_worktrees() == listed
        assert files.linked_worktrees(r.common_dir) in (None, listed)
        refs = _git(self.repo, "for-each-ref", "--format=%(refname)", "refs/heads/").split()
        branches = [ref.removeprefix("refs/heads/") for ref in refs]
        for b in branches:
            assert r.branch_commit(b) == _git(self.repo, "rev-parse", f"refs/heads/{b}").strip(), b
        for tip in branches:
            for base in branches:
                expected = int(_git(self.repo, "rev-list", "--count", f"{base}..{tip}").strip())
                assert r.commits_ahead(tip, base) == expected, (tip, base)
        for place in self.places:
            if place.exists():
                assert r.head_ref(place) == _git(place, "symbolic-ref", "--quiet", "HEAD", check=False).strip()
                assert r.head_reflog(place) == _git(place, "reflog", "show", "--format=%H", "HEAD",
                                                    check=False).split()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, min_size=1, max_size=14))
@example([("branch", "b1", "main"), ("symref", "b1"), ("checkout", 1, "alias"), ("commit", 1)])  # a chain
@example([("tag", "main"), ("commit", 0), ("gc",), ("commit", 2)])  # a tag outranks the branch
def test_the_file_readers_agree_with_git_after_any_run_of_operations(ops):
    with tempfile.TemporaryDirectory() as root:
        scene = Scene(Path(root))
        for n, op in enumerate(ops):
            scene.apply(op)
            if n == len(ops) // 2:
                scene.check()
        scene.check()
