"""The readers of git's own files (git/files.py) against git itself, one shape of repository at a time.

For each shape the test says whether the files must answer (the fast path is taken, so a reader that
always declined would fail) or must decline, and that Repo's answer, either way, is git's."""

from __future__ import annotations

import os
import subprocess
import zlib
from pathlib import Path

import pytest

from orchestrator.git import files
from orchestrator.git.repo import Repo


def _git(path: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(["git", "-C", str(path), *args], check=check, capture_output=True, text=True)
    return done.stdout


def _commit(path: Path, name: str) -> str:
    (path / f"{name}.txt").write_text(f"{name}\n")
    _git(path, "add", "--all")
    _git(path, "commit", "--quiet", "-m", name)
    return _git(path, "rev-parse", "HEAD").strip()


def _worktree(repo: Path, path: Path, branch: str) -> Path:
    _git(repo, "worktree", "add", "--quiet", "-b", branch, str(path), "main")
    return path


def _listed(repo: Path) -> dict[Path, str | None]:
    """`git worktree list --porcelain` without the main checkout, as Repo.worktrees parses it."""
    return dict(list(Repo(repo).worktrees().items())[1:])


def _symref(worktree: Path) -> str:
    return _git(worktree, "symbolic-ref", "--quiet", "HEAD", check=False).strip()


def _reflog(worktree: Path) -> list[str]:
    return _git(worktree, "reflog", "show", "--format=%H", "HEAD", check=False).split()


def _count(repo: Path, base: str, branch: str) -> int:
    return int(_git(repo, "rev-list", "--count", f"{base}..{branch}").strip())


def _common(repo: Path) -> Path:
    return Repo(repo).common_dir


# ---- worktrees: git worktree list ---------------------------------------------------------------

def test_worktrees_detached_locked_prunable_renamed_and_unborn_are_read_as_git_lists_them(repo, tmp_path):
    wt = tmp_path / "wt"
    a, b, c, d, e = (_worktree(repo, wt / n, f"agent/{n}") for n in "abcde")
    _git(b, "checkout", "--quiet", "--detach")
    _git(repo, "worktree", "lock", "--reason", "on a stick", str(c))
    (wt / "d").rename(tmp_path / "d-moved")  # prunable: its directory is gone
    _git(repo, "branch", "-m", "agent/e", "agent/e-renamed")  # git rewrites the worktree's HEAD
    _git(a, "checkout", "--quiet", "--orphan", "agent/unborn")
    found = files.linked_worktrees(_common(repo))
    assert found is not None and found == _listed(repo)
    assert found[a] == "agent/unborn" and found[b] is None and found[wt / "d"] == "agent/d"
    assert found[e] == "agent/e-renamed" and found[c] == "agent/c"
    assert Repo(repo).linked_worktrees() == _listed(repo)


def test_no_worktrees_and_packed_branches(repo, tmp_path):
    assert files.linked_worktrees(_common(repo)) == {} == _listed(repo)
    path = _worktree(repo, tmp_path / "wt", "agent/t")
    _git(repo, "pack-refs", "--all")  # the worktree's branch is now only in packed-refs
    assert not (_common(repo) / "refs/heads/agent/t").exists()
    assert files.linked_worktrees(_common(repo)) == {path: "agent/t"} == _listed(repo)
    assert Repo(repo).head_ref(path) == "refs/heads/agent/t" == _symref(path)


def test_a_dot_named_registration_is_listed_and_one_without_head_is_left_to_git(repo, tmp_path):
    path = _worktree(repo, tmp_path / ".hidden", "agent/h")
    admin = _common(repo) / "worktrees"
    assert (admin / "-hidden").is_dir()  # git's own name for it
    (admin / "-hidden").rename(admin / ".hidden")  # a dot-named entry: git still lists it
    assert files.linked_worktrees(_common(repo)) == {path: "agent/h"} == _listed(repo)
    (admin / ".hidden" / "HEAD").unlink()
    assert files.linked_worktrees(_common(repo)) is None
    assert Repo(repo).linked_worktrees() == _listed(repo) == {path: None}


def test_crlf_in_the_gitdir_files_is_read_as_git_reads_it(repo, tmp_path):
    path = _worktree(repo, tmp_path / "wt", "agent/t")
    admin = _common(repo) / "worktrees" / "wt"
    (admin / "gitdir").write_bytes((admin / "gitdir").read_bytes().rstrip(b"\n") + b"\r\n")
    (path / ".git").write_bytes((path / ".git").read_bytes().rstrip(b"\n") + b"\r\n")
    assert files.linked_worktrees(_common(repo)) == {path: "agent/t"} == _listed(repo)
    assert files.private_dir(path) == admin
    assert Repo(repo).head_ref(path) == "refs/heads/agent/t" == _symref(path)
    assert Repo(repo).head_reflog(path) == _reflog(path) != []


def test_a_relative_gitdir_is_left_to_git(repo, tmp_path):
    path = _worktree(repo, tmp_path / "wt", "agent/t")
    admin = _common(repo) / "worktrees" / "wt"
    (admin / "gitdir").write_text(os.path.relpath(path / ".git", admin) + "\n")
    assert files.linked_worktrees(_common(repo)) is None
    assert Repo(repo).linked_worktrees() == _listed(repo)


def test_a_branch_that_is_a_symbolic_ref_is_left_to_git(repo, tmp_path):
    path = _worktree(repo, tmp_path / "wt", "agent/t")
    _git(repo, "symbolic-ref", "refs/heads/alias", "refs/heads/agent/t")
    _git(path, "checkout", "--quiet", "alias")
    assert (files.private_dir(path) / "HEAD").read_text() == "ref: refs/heads/alias\n"
    assert files.linked_worktrees(_common(repo)) is None
    assert files.head_says(_common(repo), "ref: refs/heads/alias\n") is None
    assert _symref(path) == "refs/heads/agent/t"  # git follows the chain
    assert Repo(repo).head_ref(path) == _symref(path)
    assert Repo(repo).linked_worktrees() == _listed(repo) == {path: "agent/t"}
    assert Repo(repo).branch_commit("alias") == _git(repo, "rev-parse", "alias").strip()


def test_a_head_outside_refs_heads_and_a_symlinked_head_are_left_to_git(repo, tmp_path):
    path = _worktree(repo, tmp_path / "wt", "agent/t")
    private = files.private_dir(path)
    (private / "HEAD").write_text("ref: refs/remotes/origin/x\n")
    assert files.head_says(_common(repo), (private / "HEAD").read_text()) is None
    assert Repo(repo).head_ref(path) == _symref(path) == "refs/remotes/origin/x"
    assert Repo(repo).linked_worktrees() == _listed(repo)
    _git(path, "-c", "core.preferSymlinkRefs=true", "checkout", "--quiet", "agent/t")
    assert (private / "HEAD").is_symlink() and files.head_file(private) is None
    assert Repo(repo).head_ref(path) == _symref(path) == "refs/heads/agent/t"
    assert Repo(repo).linked_worktrees() == _listed(repo) == {path: "agent/t"}


def test_a_reftable_makes_every_ref_reader_decline(repo, tmp_path):
    path = _worktree(repo, tmp_path / "wt", "agent/t")
    common = _common(repo)
    (common / "reftable").mkdir()  # what extensions.refStorage=reftable leaves (git 2.45+)
    assert files.linked_worktrees(common) is None
    assert files.branch_from_files(common, "main") == (False, None)
    head = _git(repo, "rev-parse", "main").strip()
    assert files.line_length(common, head, head) is None
    (common / "reftable").rmdir()
    assert files.branch_from_files(common, "main") == (True, head)
    assert files.linked_worktrees(common) == {path: "agent/t"}


# ---- a worktree's HEAD: git symbolic-ref, git reflog --------------------------------------------

def test_head_and_reflog_through_commits_detaching_renaming_and_an_unborn_branch(repo, tmp_path):
    path = _worktree(repo, tmp_path / "wt", "agent/t")
    r = Repo(repo)
    _commit(path, "one")
    _git(path, "checkout", "--quiet", "--detach", "main")
    assert r.head_ref(path) == "" == _symref(path)
    _git(path, "checkout", "--quiet", "agent/t")
    _commit(path, "two")
    _git(repo, "branch", "-m", "agent/t", "agent/renamed")
    assert r.head_ref(path) == "refs/heads/agent/renamed" == _symref(path)
    assert r.head_reflog(path) == _reflog(path) and len(_reflog(path)) >= 4
    assert r.head_ref(repo) == "refs/heads/main" == _symref(repo)
    assert r.head_reflog(repo) == _reflog(repo) != []
    _git(path, "checkout", "--quiet", "--orphan", "agent/unborn")
    assert r.head_ref(path) == "refs/heads/agent/unborn" == _symref(path)
    assert (files.private_dir(path) / "logs" / "HEAD").read_text()  # the log is there, but
    assert r.head_reflog(path) == _reflog(path) == []  # git has no HEAD to show it for


def test_a_reflog_entry_whose_commit_is_gone_is_the_one_difference_from_git(repo, tmp_path):
    path = _worktree(repo, tmp_path / "wt", "agent/t")
    _commit(path, "kept")
    dropped = _commit(path, "dropped")
    _git(path, "reset", "--quiet", "--hard", "HEAD~1")
    obj = _common(repo) / "objects" / dropped[:2] / dropped[2:]
    obj.unlink()  # as a prune of an unreachable commit would
    mine, gits = Repo(repo).head_reflog(path), _reflog(path)
    assert dropped in mine and dropped not in gits
    assert [c for c in mine if c != dropped] == gits


def test_a_dot_git_file_checkout_like_a_submodule(tmp_path):
    top, gitdir = tmp_path / "top", tmp_path / "elsewhere.git"
    top.mkdir()
    subprocess.run(["git", "init", "--quiet", "-b", "main", f"--separate-git-dir={gitdir}", str(top)], check=True)
    _git(top, "-c", "user.email=a@b", "-c", "user.name=n", "commit", "--quiet", "--allow-empty", "-m", "i")
    r = Repo(top)
    assert (top / ".git").is_file() and files.plain_checkout(top) is None  # git decides
    assert r.problem("main") is None
    assert files.private_dir(top) == gitdir
    assert r.head_ref(top) == "refs/heads/main" == _symref(top)
    assert r.head_reflog(top) == _reflog(top)
    path = tmp_path / "wt"
    _git(top, "worktree", "add", "--quiet", "-b", "agent/t", str(path))
    assert files.linked_worktrees(r.common_dir) == {path: "agent/t"} == _listed(top)
    assert r.head_ref(path) == _symref(path)


def test_an_invalid_gitfile_is_left_to_git(repo, tmp_path):
    path = _worktree(repo, tmp_path / "wt", "agent/t")
    text = (path / ".git").read_text()
    (path / ".git").write_text(text.replace("gitdir: ", "gitdir:"))  # git wants the space
    assert files.private_dir(path) is None
    assert Repo(repo).head_ref(path) == _symref(path)


# ---- commits ahead: git rev-list --count ----------------------------------------------------------

def test_loose_single_parent_commits_are_counted_from_the_objects(repo):
    common = _common(repo)
    base = _git(repo, "rev-parse", "main").strip()
    _git(repo, "checkout", "--quiet", "-b", "work")
    tips = [_commit(repo, f"c{n}") for n in range(3)]
    assert zlib.decompress((common / "objects" / tips[-1][:2] / tips[-1][2:]).read_bytes()).startswith(b"commit ")
    assert files.line_length(common, tips[-1], base) == 3 == _count(repo, "main", "work")
    assert files.line_length(common, base, base) == 0
    assert files.line_length(common, base, tips[-1]) is None  # behind: the line never meets it
    assert Repo(repo).commits_ahead("work", "main") == 3 and Repo(repo).commits_ahead("main", "work") == 0


def test_merges_packs_grafts_and_replacements_are_counted_by_git(repo):
    r, common = Repo(repo), _common(repo)
    _git(repo, "checkout", "--quiet", "-b", "work")
    first = _commit(repo, "w1")
    _git(repo, "checkout", "--quiet", "main")
    _commit(repo, "m1")
    _git(repo, "checkout", "--quiet", "work")
    _git(repo, "merge", "--quiet", "--no-edit", "main")
    merge = _git(repo, "rev-parse", "HEAD").strip()
    assert files.line_length(common, merge, r.branch_commit("main")) is None
    assert r.commits_ahead("work", "main") == _count(repo, "main", "work") == 2
    tip = _commit(repo, "w2")
    base = r.branch_commit("main")

    (common / "info").mkdir(exist_ok=True)
    (common / "info" / "grafts").write_text(f"{tip}\n")  # w2 becomes a root: nothing below it
    assert files.line_length(common, tip, base) is None
    assert r.commits_ahead("work", "main") == _count(repo, "main", "work")
    (common / "info" / "grafts").unlink()

    _git(repo, "replace", first, base)
    assert files.line_length(common, tip, tip) is None
    assert r.commits_ahead("work", "main") == _count(repo, "main", "work")
    _git(repo, "pack-refs", "--all")
    assert not (common / "refs" / "replace" / first).exists()
    _git(repo, "update-ref", "-d", f"refs/replace/{first}")
    _git(repo, "replace", first, base)
    _git(repo, "pack-refs", "--all")
    os.rmdir(common / "refs" / "replace")  # only in packed-refs now
    assert files.line_length(common, tip, tip) is None
    assert r.commits_ahead("work", "main") == _count(repo, "main", "work")
    _git(repo, "replace", "-d", first)

    _git(repo, "gc", "--quiet")
    assert files.line_length(common, tip, merge) is None  # packed
    assert r.commits_ahead("work", "main") == _count(repo, "main", "work") == 3


def test_a_shallow_repository_is_counted_by_git(repo, tmp_path):
    for n in range(3):
        _commit(repo, f"c{n}")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--depth=2", f"file://{repo}", str(clone)], check=True)
    _git(clone, "config", "user.email", "a@b")
    _git(clone, "config", "user.name", "n")
    _git(clone, "checkout", "--quiet", "-b", "work")
    tip = _commit(clone, "w")
    common = _common(clone)
    assert (common / "shallow").exists() and files.line_length(common, tip, tip) is None
    assert Repo(clone).commits_ahead("work", "main") == _count(clone, "main", "work") == 1


def test_a_tag_named_like_the_base_makes_git_count(repo):
    _git(repo, "tag", "main-tag")
    _git(repo, "checkout", "--quiet", "-b", "work")
    _commit(repo, "w1")
    _git(repo, "tag", "main")  # git's revision parsing takes refs/tags/main before refs/heads/main
    assert files.outranks_branch(_common(repo), "main") and not files.outranks_branch(_common(repo), "work")
    assert Repo(repo).commits_ahead("work", "main") == _count(repo, "main", "work") == 0
    _git(repo, "pack-refs", "--all")
    assert files.outranks_branch(_common(repo), "main")


@pytest.mark.parametrize("name", ["../HEAD", "a..b", ".hidden", "x.lock", "a b", "trailing/", "@", "a@{1}"])
def test_a_name_git_would_not_take_as_a_branch_is_not_looked_up_as_a_file(repo, name):
    assert not files.plain_branch_name(name)
    assert files.branch_from_files(_common(repo), name) == (False, None)
    assert Repo(repo).branch_commit(name) is None  # git's answer: no such branch


def test_a_parent_line_out_of_place_is_not_a_parent(repo, tmp_path):
    """git reads parents only right after the tree line; a crafted commit with one after the author
    is a root to git, and to the reader."""
    tree = _git(repo, "rev-parse", "HEAD^{tree}").strip()
    head = _git(repo, "rev-parse", "HEAD").strip()
    body = f"tree {tree}\nauthor a <a@b> 0 +0000\ncommitter a <a@b> 0 +0000\nparent {head}\n\nodd\n"
    odd = subprocess.run(["git", "-C", str(repo), "hash-object", "-t", "commit", "-w", "--literally", "--stdin"],
                         input=body, capture_output=True, text=True, check=True).stdout.strip()
    assert files._parents(_common(repo), odd) == []
    assert _git(repo, "rev-list", "--count", odd).strip() == "1"


# ---- the repository check: git rev-parse --is-inside-work-tree ------------------------------------

CONFIG_SHAPES = {
    "git init's": ("", True),
    "worktreeConfig and a plain config.worktree": ("[extensions]\n\tworktreeConfig = true\n", True),
    "bare": ("[core]\n\tbare = true\n", False),
    "bare, spelled as a bare key": ("[core]\n\tbare\n", False),
    "core.worktree": ("[core]\n\tworktree = /somewhere/else\n", False),
    "an include": ("[include]\n\tpath = other.config\n", False),
    "an includeIf": ('[includeIf "gitdir:/x/"]\n\tpath = other.config\n', False),
    "a continued line": ("[alias]\n\tst = status \\\n\t--short\n", False),
    "an unknown extension": ("[extensions]\n\trefStorage = reftable\n", False),
    "format 0 naming an object format": ("[extensions]\n\tobjectFormat = sha1\n", False),
    "a comment on core": ("[core]\n\tfilemode = true # why\n", False),
}


@pytest.mark.parametrize("shape", list(CONFIG_SHAPES))
def test_a_plain_checkout_is_one_git_calls_a_work_tree(repo, shape):
    extra, plain = CONFIG_SHAPES[shape]
    config = repo / ".git" / "config"
    config.write_text(config.read_text() + extra)
    if "worktreeConfig" in extra:
        (repo / ".git" / "config.worktree").write_text("[core]\n\tsparseCheckout = false\n")
    found = files.plain_checkout(repo)
    assert (found is not None) is plain
    inside = _git(repo, "rev-parse", "--is-inside-work-tree", check=False).strip()
    if found is not None:
        assert found == repo / ".git" and inside == "true"
    assert (Repo(repo).problem("main") is None) == (inside == "true")


def test_bare_in_config_worktree_is_seen(repo):
    _git(repo, "config", "extensions.worktreeConfig", "true")
    (repo / ".git" / "config.worktree").write_text("[core]\n\tbare = true\n")
    assert files.plain_checkout(repo) is None
    assert _git(repo, "rev-parse", "--is-inside-work-tree").strip() == "false"


def test_a_broken_dot_git_directory_is_left_to_git(repo, tmp_path):
    inner = repo / "inner"
    (inner / ".git").mkdir(parents=True)  # no HEAD, objects or refs: git looks further up
    assert files.plain_checkout(inner) is None
    (inner / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    assert files.plain_checkout(inner) is None  # still no objects/ or refs/
    assert _git(inner, "rev-parse", "--show-toplevel").strip() == str(repo)
