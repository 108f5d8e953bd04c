import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from orchestrator.base.errors import GitError
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
