import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from orchestrator.base.errors import GitError
from orchestrator.git import files
from orchestrator.git.repo import Repo
from orchestrator.git.worktrees import prepare_worktree, remove_worktree
from orchestrator.store.queue import Queue
from orchestrator.tick.reconcile import sweep_worktrees


def test_twelve_parallel_worktree_preparations_all_succeed(repo, tmp_path):
    def prepare(n):
        # A Repo per thread, as separate runner processes would have.
        return prepare_worktree(Repo(repo), tmp_path / "wt" / f"t{n}", f"agent/t{n}", "main")

    with ThreadPoolExecutor(12) as pool:
        reused = list(pool.map(prepare, range(12)))
    assert reused == [False] * 12
    assert len(Repo(repo).worktrees()) == 13


def test_prepare_reuses_the_existing_branch_and_worktree(repo, tmp_path):
    r = Repo(repo)
    path = tmp_path / "wt" / "t1"
    assert prepare_worktree(r, path, "agent/t1", "main") is False
    (path / "wip.txt").write_text("uncommitted")
    assert prepare_worktree(r, path, "agent/t1", "main") is True
    assert (path / "wip.txt").exists()
    assert remove_worktree(r, path, "agent/t1") == f"worktree {path} has uncommitted changes; kept"
    (path / "wip.txt").unlink()
    assert remove_worktree(r, path, "agent/t1") is None and not path.exists()
    assert prepare_worktree(r, path, "agent/t1", "main") is False  # the branch exists: the normal case


def test_a_removed_worktree_is_forgotten_as_git_worktree_prune_forgets_it(repo, tmp_path):
    """remove_worktree deletes the registration itself (files.registration), leaving git nothing to
    prune; a locked worktree's registration it leaves to git, which keeps it."""
    r = Repo(repo)
    git = lambda *a: subprocess.run(["git", "-C", str(repo), *a], check=True, capture_output=True,  # noqa: E731
                                    text=True).stdout
    kept, locked = tmp_path / "wt" / "t1", tmp_path / "wt" / "t2"
    prepare_worktree(r, kept, "agent/t1", "main")
    prepare_worktree(r, locked, "agent/t2", "main")
    assert files.registration(r.common_dir, kept) == r.common_dir / "worktrees" / "t1"
    git("worktree", "lock", str(locked))
    assert files.registration(r.common_dir, locked) is None
    assert remove_worktree(r, kept, "agent/t1") is None and remove_worktree(r, locked, "agent/t2") is None
    listed = git("worktree", "list", "--porcelain")
    assert str(kept) not in listed and f"worktree {locked}\n" in listed and "locked" in listed
    assert git("worktree", "prune", "--dry-run", "--verbose") == ""
    assert prepare_worktree(r, kept, "agent/t1", "main") is False  # the branch is free for the next attempt
    assert (kept / "README.md").exists()


def test_commits_on_no_branch_keep_the_worktree(repo, tmp_path):
    r = Repo(repo)
    path = tmp_path / "wt" / "t1"
    prepare_worktree(r, path, "agent/t1", "main")
    subprocess.run(["git", "-C", str(path), "checkout", "-q", "--detach"], check=True)
    (path / "x.txt").write_text("x")
    r.commit_all(path, "detached work")
    assert "commits on no branch" in remove_worktree(r, path, "agent/t1")


def test_git_errors_show_the_command_and_output(repo):
    with pytest.raises(GitError) as caught:
        Repo(repo).git("rev-parse", "--verify", "no-such-ref")
    message = str(caught.value)
    assert "git rev-parse --verify no-such-ref" in message and "exit code 128" in message


def test_repository_problems_are_named(tmp_path, repo):
    assert "is not a git repository" in Repo(tmp_path).problem("main")
    assert "does not exist" in Repo(tmp_path / "nope").problem("main")
    assert "base branch 'trunk' does not exist" in Repo(repo).problem("trunk")
    assert Repo(repo).problem("main") is None


def test_sweep_removes_clean_worktrees_of_finished_tasks_and_keeps_dirty_ones(repo, tmp_path):
    queue = Queue(tmp_path / "queue", tmp_path / "state")
    queue.ensure_dirs()
    r = Repo(repo)
    worktrees = tmp_path / "state" / "worktrees"
    prepare_worktree(r, worktrees / "clean", "agent/clean", "main")
    prepare_worktree(r, worktrees / "dirty", "agent/dirty", "main")
    (worktrees / "dirty" / "wip.txt").write_text("keep me")
    kept = sweep_worktrees(queue, r, worktrees, "agent/")
    assert not (worktrees / "clean").exists()
    assert (worktrees / "dirty" / "wip.txt").read_text() == "keep me"
    assert len(kept) == 1 and "uncommitted changes" in kept[0]


def test_commit_all_leaves_out_what_agent_tools_write_for_themselves(repo):
    r = Repo(repo)
    (repo / ".aider.chat.history.md").write_text("# aider chat\n")
    (repo / ".claude").mkdir()
    (repo / ".claude" / "settings.local.json").write_text("{}\n")
    noise = (".aider*", ".claude/*")
    assert not r.is_dirty(repo, ignoring=noise) and r.is_dirty(repo)
    assert r.commit_all(repo, "nothing real", ignoring=noise) is False
    (repo / "real.txt").write_text("work\n")
    assert r.commit_all(repo, "real work", ignoring=noise) is True
    committed = r.git("show", "--name-only", "--format=", "HEAD").split()
    assert committed == ["real.txt"], committed


def test_status_lists_new_changed_renamed_and_conflicted_paths_as_git_names_them(repo):
    r = Repo(repo)
    git = lambda *a: subprocess.run(["git", "-C", str(repo), *a], check=True, capture_output=True)  # noqa: E731
    (repo / "old name.txt").write_text("a\n")
    (repo / "both.txt").write_text("base\n")
    git("add", ".")
    git("commit", "-q", "-m", "base")
    git("checkout", "-q", "-b", "other")
    (repo / "both.txt").write_text("theirs\n")
    git("commit", "-q", "-am", "theirs")
    git("checkout", "-q", "main")
    (repo / "both.txt").write_text("ours\n")
    git("commit", "-q", "-am", "ours")
    assert r.status(repo).paths == ()
    subprocess.run(["git", "-C", str(repo), "merge", "-q", "other"], capture_output=True)  # stops in conflict
    git("mv", "old name.txt", "new name.txt")
    (repo / "sub").mkdir()
    (repo / "sub" / "fresh\tfile.txt").write_text("new\n")
    (repo / ".aider.chat.history.md").write_text("# aider\n")
    seen = r.status(repo, ignoring=(".aider*",))
    assert sorted(seen.paths) == ["both.txt", "new name.txt", "sub/fresh\tfile.txt"]
    assert seen.unmerged == ("both.txt",) == tuple(r.unmerged_files(repo))
    assert ".aider.chat.history.md" in r.status(repo).paths


def test_a_branch_is_read_from_the_ref_files_loose_or_packed(repo):
    r = Repo(repo)
    head = r.git("rev-parse", "HEAD").strip()
    r.git("branch", "loose-one")
    assert r.branch_commit("loose-one") == head and r.branch_exists("loose-one")
    r.git("pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "loose-one").exists()
    assert r.branch_commit("loose-one") == head  # from packed-refs
    assert r.branch_commit("no-such-branch") is None and not r.branch_exists("no-such-branch")
    assert r.common_dir == (repo / ".git").resolve()


def _git(path, *args):
    return subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True, text=True).stdout


def test_linked_worktrees_read_from_the_files_match_git_worktree_list(repo, tmp_path):
    r = Repo(repo)
    assert r.linked_worktrees() == {}
    for n in range(3):
        prepare_worktree(r, tmp_path / "wt" / f"t{n}", f"agent/t{n}", "main")
    _git(tmp_path / "wt" / "t1", "checkout", "-q", "--detach")
    (tmp_path / "wt" / "t2").rename(tmp_path / "gone")  # registered, its directory missing
    listed = dict(list(r.worktrees().items())[1:])
    assert r.linked_worktrees() == listed
    assert listed[tmp_path / "wt" / "t0"] == "agent/t0" and listed[tmp_path / "wt" / "t1"] is None
    assert tmp_path / "wt" / "t2" in listed


def test_a_worktrees_head_and_reflog_are_read_from_its_files_as_git_says_them(repo, tmp_path):
    r = Repo(repo)
    path = tmp_path / "wt" / "t1"
    prepare_worktree(r, path, "agent/t1", "main")
    (path / "a.txt").write_text("a\n")
    r.commit_all(path, "a")
    _git(path, "checkout", "-q", "--detach", "main")
    assert r.head_ref(path) == "" and r.head_ref(repo) == "refs/heads/main"
    _git(path, "checkout", "-q", "agent/t1")
    assert r.head_ref(path) == _git(path, "symbolic-ref", "--quiet", "HEAD").strip() == "refs/heads/agent/t1"
    by_git = _git(path, "reflog", "show", "--format=%H", "HEAD").split()
    assert set(r.head_reflog(path)) - {"0" * 40} == set(by_git) and len(by_git) >= 3


def test_commits_ahead_counts_loose_commits_and_agrees_with_git_elsewhere(repo):
    r = Repo(repo)

    def by_git(branch, base):
        return int(_git(repo, "rev-list", "--count", f"{base}..{branch}"))

    _git(repo, "branch", "work")
    assert r.commits_ahead("work", "main") == 0
    _git(repo, "checkout", "-q", "work")
    for n in range(3):
        (repo / f"f{n}.txt").write_text(f"{n}\n")
        r.commit_all(repo, f"commit {n}")
    assert r.commits_ahead("work", "main") == 3 == by_git("work", "main")
    assert r.commits_ahead("main", "work") == 0 == by_git("main", "work")  # behind: git counts
    _git(repo, "checkout", "-q", "main")
    (repo / "main.txt").write_text("moved on\n")
    r.commit_all(repo, "main moves on")
    assert r.commits_ahead("work", "main") == 3 == by_git("work", "main")  # base moved: git counts
    _git(repo, "checkout", "-q", "work")
    _git(repo, "merge", "-q", "--no-edit", "main")
    assert r.commits_ahead("work", "main") == 4 == by_git("work", "main")  # a merge: git counts
    (repo / "after.txt").write_text("x\n")
    r.commit_all(repo, "after the merge")
    _git(repo, "gc", "-q")  # everything packed: git counts
    assert r.commits_ahead("work", "main") == 5 == by_git("work", "main")


def test_commit_all_uses_the_fallback_identity_only_without_a_configured_email(repo, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # no global identity
    monkeypatch.setenv("EMAIL", "guessed@example.com")  # what git would take without user.useConfigOnly
    r = Repo(repo)
    _git(repo, "config", "--unset", "user.email")
    (repo / "a.txt").write_text("a\n")
    assert r.commit_all(repo, "a")
    assert _git(repo, "log", "-1", "--format=%an <%ae>").strip() == "orchestrator <orchestrator@localhost>"
    _git(repo, "config", "user.email", "person@example.com")
    _git(repo, "config", "--unset", "user.name")
    (repo / "b.txt").write_text("b\n")
    assert r.commit_all(repo, "b")  # git's own name for the person, with their email
    assert _git(repo, "log", "-1", "--format=%ae").strip() == "person@example.com"


def test_an_ordinary_checkout_is_checked_from_its_files_and_a_rebase_in_it_is_seen(repo, tmp_path):
    r = Repo(repo)
    assert files.plain_checkout(repo) == repo / ".git" and r.problem("main") is None
    (repo / ".git" / "rebase-merge").mkdir()
    assert "in the middle of a rebase" in r.problem("main")
    (repo / ".git" / "rebase-merge").rmdir()
    _git(repo, "config", "core.bare", "true")  # the files do not say it plainly any more: git decides
    assert files.plain_checkout(repo) is None
    assert "is not a git repository" in Repo(repo).problem("main")


def _eager_maintenance(repo) -> None:
    """The loose-objects task, due from the first loose object: `git commit` then packs at once."""
    for key, value in (("maintenance.gc.enabled", "false"), ("maintenance.loose-objects.enabled", "true"),
                       ("maintenance.loose-objects.auto", "1")):
        _git(repo, "config", key, value)


def _packs(repo) -> list[str]:
    return sorted(p.name for p in (repo / ".git" / "objects" / "pack").glob("*.pack"))


def test_commit_all_leaves_gits_maintenance_to_maintain_which_runs_it_as_commit_would(repo):
    _eager_maintenance(repo)
    (repo / "by-hand.txt").write_text("a\n")
    _git(repo, "add", "by-hand.txt")
    _git(repo, "commit", "-q", "-m", "by hand")
    by_hand = _packs(repo)
    assert by_hand, "a plain git commit runs the maintenance that is due"
    r = Repo(repo)
    (repo / "agent.txt").write_text("b\n")
    assert r.commit_all(repo, "the agent's work")
    assert _packs(repo) == by_hand  # left for later
    r.maintain()
    assert len(_packs(repo)) == len(by_hand) + 1


def test_maintain_does_nothing_where_the_repository_turned_automatic_maintenance_off(repo):
    _eager_maintenance(repo)
    _git(repo, "config", "maintenance.auto", "false")
    (repo / "agent.txt").write_text("b\n")
    r = Repo(repo)
    assert r.commit_all(repo, "the agent's work")
    r.maintain()
    assert _packs(repo) == []
