"""diff ID, checkout ID and prune through the API, on a real repository: tasks put into their states by
the queue, their branches made with real commits (issue 16, item 2). No agent runs here; the
acceptance tests drive the same commands through the CLI after real attempts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from orchestrator.api import Orchestrator
from orchestrator.base.errors import NotFoundError
from orchestrator.git.repo import Repo
from orchestrator.git.worktrees import prepare_worktree, remove_worktree


def commit_on_branch(env, branch: str, files: dict[str, str], message: str = "agent work") -> str:
    """Commits files on branch (made from main when new), the way an attempt would; its new tip."""
    repo = Repo(env.repo)
    path = env.root / "scratch-worktrees" / branch.replace("/", "-")
    prepare_worktree(repo, path, branch, "main")
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    assert repo.commit_all(path, message)
    assert remove_worktree(repo, path, branch) is None
    return repo.head_commit(branch)


def commit_on_main(env, name: str, text: str) -> None:
    (env.repo / name).write_text(text)
    env.git("add", name)
    env.git("commit", "-q", "-m", f"main: {name}")


@pytest.fixture
def orch(env):
    env.write_config([env.agent("impl-1")])
    return Orchestrator(config=env.config)


def task_in(env, task_id: str, state: str, files: dict[str, str] | None = None) -> None:
    """A task in state; with files, its branch has them committed (without, it has no branch)."""
    env.enqueue(task_id)
    if files is not None:
        commit_on_branch(env, env.config.branch_of(task_id), files)
    if state != "incoming":
        assert env.queue.transition(task_id, "incoming", state, actor="test") is not None


def branches(env) -> set[str]:
    return set(env.git("for-each-ref", "--format=%(refname:short)", "refs/heads/").split())


# ---- diff ---------------------------------------------------------------------------------------


def test_diff_is_against_the_merge_base_after_main_moved(env, orch):
    task_in(env, "t1", "provisional", {"feature.py": "print('feature')\n"})
    commit_on_main(env, "later.txt", "a commit on main after the branch left it\n")
    found = orch.diff("t1")
    assert "+print('feature')" in found.text and "feature.py" in found.text
    assert "later.txt" not in found.text  # two dots would show main's new file as removed by the branch
    assert found.merge_base == env.git("merge-base", "main", "agent/t1").strip() != env.git("rev-parse", "main").strip()
    assert found.state == "provisional" and not found.merged and "\x1b[" not in found.text

    stat = orch.diff("t1", stat=True)
    assert "feature.py | 1 +" in stat.text and "1 file changed" in stat.text and "+print" not in stat.text


def test_diff_of_a_task_without_a_branch_or_of_no_task_says_so(env, orch):
    env.enqueue("fresh")
    with pytest.raises(NotFoundError, match="has no branch yet"):
        orch.diff("fresh")
    with pytest.raises(NotFoundError, match="no task 'ghost'"):
        orch.diff("ghost")


def test_diff_of_a_merged_task_is_empty_and_says_merged(env, orch):
    task_in(env, "t1", "provisional", {"a.txt": "a\n"})
    orch.accept("t1", merge=True)
    found = orch.diff("t1")
    assert found.merged and found.text == "" and found.state == "done"


# ---- checkout -----------------------------------------------------------------------------------


def test_checkout_is_on_the_branch_runs_its_code_and_a_second_checkout_is_the_same(env, orch):
    task_in(env, "t1", "provisional", {"tool.py": "print('hello from the branch')\n"})
    made = orch.checkout("t1")
    assert made.path == str(env.config.state_dir / "review" / "t1") and made.created and not made.detached
    assert made.note is None
    ran = subprocess.run([sys.executable, "tool.py"], cwd=made.path, capture_output=True, text=True, check=True)
    assert ran.stdout == "hello from the branch\n"
    assert subprocess.run(["git", "symbolic-ref", "--short", "HEAD"], cwd=made.path, capture_output=True,
                          text=True, check=True).stdout.strip() == "agent/t1"
    (env.config.state_dir / "review" / "t1" / "mine.txt").write_text("the reviewer's own note\n")
    again = orch.checkout("t1")
    assert again.path == made.path and not again.created
    assert (env.config.state_dir / "review" / "t1" / "mine.txt").exists()  # a second checkout touches nothing
    assert orch.show("t1").review_worktree == made.path


def test_checkout_is_detached_while_another_worktree_has_the_branch(env, orch):
    task_in(env, "t1", "provisional", {"a.txt": "a\n"})
    agent_tree = env.config.state_dir / "worktrees" / "t1"  # an attempt's worktree, kept with its changes
    prepare_worktree(Repo(env.repo), agent_tree, "agent/t1", "main")
    made = orch.checkout("t1")
    assert made.detached and str(agent_tree) in made.note and "on no branch" in made.note
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=made.path, capture_output=True, text=True).stdout.strip()
    assert head == env.git("rev-parse", "agent/t1").strip()


def test_checkout_of_a_task_an_agent_may_take_is_detached(env, orch):
    task_in(env, "t1", "incoming", {"a.txt": "a\n"})  # a retried task: its branch goes to the next attempt
    made = orch.checkout("t1")
    assert made.detached and "incoming/" in made.note


def test_an_agent_taking_the_branch_detaches_the_checkout_and_keeps_its_changes(env, orch):
    task_in(env, "t1", "provisional", {"a.txt": "a\n"})
    made = orch.checkout("t1")
    (env.config.state_dir / "review" / "t1" / "a.txt").write_text("the reviewer's edit\n")
    # The task goes back to an agent (an agent reviewer, or a reject while the checkout had changes).
    agent_tree = env.config.state_dir / "worktrees" / "t1"
    prepare_worktree(Repo(env.repo), agent_tree, "agent/t1", "main", review_dir=env.config.state_dir / "review")
    assert Repo(env.repo).worktrees()[agent_tree] == "agent/t1"
    assert (env.config.state_dir / "review" / "t1" / "a.txt").read_text() == "the reviewer's edit\n"
    assert Repo(env.repo).worktrees()[env.config.state_dir / "review" / "t1"] is None
    # The agent commits and is done; the next checkout says the reviewer's tree is not on the branch.
    (agent_tree / "b.txt").write_text("b\n")
    Repo(env.repo).commit_all(agent_tree, "more agent work")
    assert remove_worktree(Repo(env.repo), agent_tree, "agent/t1") is None
    again = orch.checkout("t1")
    assert again.path == made.path and again.detached and "not on 'agent/t1'" in again.note


def test_a_clean_detached_checkout_goes_back_on_the_branch_at_its_new_tip(env, orch):
    task_in(env, "t1", "provisional", {"a.txt": "a\n"})
    orch.checkout("t1")
    agent_tree = env.config.state_dir / "worktrees" / "t1"
    prepare_worktree(Repo(env.repo), agent_tree, "agent/t1", "main", review_dir=env.config.state_dir / "review")
    (agent_tree / "b.txt").write_text("b\n")
    Repo(env.repo).commit_all(agent_tree, "more agent work")
    remove_worktree(Repo(env.repo), agent_tree, "agent/t1")
    again = orch.checkout("t1")
    assert not again.detached and again.note is None
    assert (env.config.state_dir / "review" / "t1" / "b.txt").read_text() == "b\n"


# ---- decisions ----------------------------------------------------------------------------------


def test_accept_removes_a_clean_checkout(env, orch):
    task_in(env, "t1", "provisional", {"a.txt": "a\n"})
    path = env.config.state_dir / "review" / "t1"
    orch.checkout("t1")
    decision = orch.accept("t1", merge=True)
    assert decision.notes == () and not path.exists()
    assert path not in Repo(env.repo).worktrees()


@pytest.mark.parametrize("decide", ["accept", "reject", "cancel"])
def test_a_decision_keeps_a_checkout_with_changes_and_says_so(env, orch, decide):
    task_in(env, "t1", "provisional", {"a.txt": "a\n"})
    path = env.config.state_dir / "review" / "t1"
    orch.checkout("t1")
    (path / "fix.txt").write_text("the reviewer's unfinished fix\n")
    decision = {"accept": lambda: orch.accept("t1"), "reject": lambda: orch.reject("t1", "do it again"),
                "cancel": lambda: orch.cancel("t1")}[decide]()
    assert (path / "fix.txt").read_text() == "the reviewer's unfinished fix\n"
    assert len(decision.notes) == 1 and "uncommitted changes; kept" in decision.notes[0]
    assert str(path) in decision.notes[0]


# ---- prune --------------------------------------------------------------------------------------


def prune_world(env, orch) -> dict[str, str]:
    """One task of each kind prune meets; returns their branches' tips."""
    task_in(env, "merged", "provisional", {"m.txt": "m\n"})
    orch.accept("merged", merge=True)
    task_in(env, "unmerged", "provisional", {"u.txt": "u\n"})
    orch.accept("unmerged")  # accepted without merging: its commit is on its branch only
    task_in(env, "empty", "incoming")  # failed before its agent committed anything
    env.git("branch", "agent/empty", "main")
    env.queue.transition("empty", "incoming", "failed", actor="test")
    task_in(env, "live", "incoming")  # retried, waiting for its next attempt: no commits yet either
    env.git("branch", "agent/live", "main")
    task_in(env, "review", "provisional", {"r.txt": "r\n"})
    env.git("branch", "agent/gone", "main")  # a task whose files are gone (deleted by hand)
    return {b: env.git("rev-parse", b).strip() for b in branches(env)}


def test_prune_deletes_merged_and_empty_branches_of_finished_tasks_only(env, orch):
    tips = prune_world(env, orch)
    report = orch.prune()
    deleted = {i.name: i for i in report.deleted}
    kept = {i.name: i for i in report.kept}
    assert set(deleted) == {"agent/merged", "agent/empty", "agent/gone"}
    assert branches(env) == {"main", "agent/unmerged", "agent/live", "agent/review"}
    assert "1 commit(s) on it are not on main" in kept["agent/unmerged"].reason
    assert kept["agent/live"].reason == "the task is in incoming/"
    assert kept["agent/review"].reason == "the task is in provisional/"
    assert deleted["agent/merged"].commit == tips["agent/merged"]
    assert deleted["agent/merged"].reason == "the task is in done/; every commit on it is on main"
    assert "the task is gone" in deleted["agent/gone"].reason
    pruned = [e for e in env.events() if e["event"] == "branch_pruned"]
    assert {e["task"] for e in pruned} == {"merged", "empty", "gone"}
    assert all(e["commit"] == tips[e["branch"]] for e in pruned)
    assert orch.prune().deleted == ()  # nothing more to do


def test_prune_dry_run_changes_nothing_and_says_what_it_would_do(env, orch):
    prune_world(env, orch)
    orch.checkout("merged")
    before = branches(env), env.git("worktree", "list", "--porcelain"), len(env.events())
    report = orch.prune(dry_run=True)
    assert report.dry_run
    assert branches(env) == before[0] and env.git("worktree", "list", "--porcelain") == before[1]
    assert len(env.events()) == before[2]
    assert (env.config.state_dir / "review" / "merged").is_dir()
    real = orch.prune()
    assert [(i.kind, i.name) for i in report.deleted] == [(i.kind, i.name) for i in real.deleted]


def test_prune_removes_clean_checkouts_of_finished_tasks_and_keeps_the_rest(env, orch):
    task_in(env, "done1", "provisional", {"a.txt": "a\n"})
    task_in(env, "done2", "provisional", {"b.txt": "b\n"})
    task_in(env, "waiting", "provisional", {"c.txt": "c\n"})
    for task_id in ("done1", "done2", "waiting"):
        orch.checkout(task_id)
    review = env.config.state_dir / "review"
    (review / "done2" / "wip.txt").write_text("mine\n")
    # Decided while the checkouts were there, by hand (the files moved), so nothing removed them yet.
    for task_id in ("done1", "done2"):
        env.queue.transition(task_id, "provisional", "done", actor="test")
        env.git("merge", "-q", "--no-edit", f"agent/{task_id}")
    report = orch.prune()
    removed = {i.name for i in report.deleted if i.kind == "review_worktree"}
    kept = {i.name: i.reason for i in report.kept}
    assert removed == {str(review / "done1")} and not (review / "done1").exists()
    assert (review / "done2" / "wip.txt").read_text() == "mine\n" and "uncommitted changes" in kept[str(review / "done2")]
    assert "provisional/" in kept[str(review / "waiting")]
    # The branch done1's checkout had is free now and goes; done2's is still checked out.
    assert "agent/done1" not in branches(env)
    assert "checked out in" in kept["agent/done2"]


def test_prune_never_deletes_a_branch_checked_out_anywhere(env, orch):
    task_in(env, "t1", "incoming")
    env.git("branch", "agent/t1", "main")
    env.queue.transition("t1", "incoming", "failed", actor="test")
    elsewhere = env.root / "mine"
    env.git("worktree", "add", "-q", str(elsewhere), "agent/t1")
    report = orch.prune()
    assert "agent/t1" in branches(env)
    assert [i.reason for i in report.kept if i.name == "agent/t1"] == [f"the task is in failed/; checked out in {elsewhere}"]


def test_prune_finds_branches_of_a_prefix_without_a_slash(env):
    env.write_config([env.agent("impl-1")], branch_prefix="task-")
    orch = Orchestrator(config=env.config)
    task_in(env, "t1", "incoming")
    env.git("branch", "task-t1", "main")
    env.git("branch", "task-force", "main")  # the branch of a live task ('force', provisional/ below)
    env.git("branch", "agent/t1", "main")  # not under this prefix
    env.queue.transition("t1", "incoming", "failed", actor="test")
    task_in(env, "force", "provisional")
    report = orch.prune()
    assert [i.name for i in report.deleted] == ["task-t1"]
    assert branches(env) == {"main", "task-force", "agent/t1"}
