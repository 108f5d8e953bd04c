"""The state directory's layout: every path under it is named here, once.

    <state_dir>/runs/<task id>/<n>/     attempt records (store/attempts.py)
                worktrees/<task id>     the task's worktree; pool/slot-<n> the worktree pool
                review/<task id>        a person's worktree of the task's branch (`checkout ID`)
                events.jsonl            the event journal; logs/ the structured logs
                locks/                  tick.lock, daemon.lock, agents.lock, tasks/<id>.lock, sweep.stamp
                daemon.pid, last_tick.json, config_status.json, agents.json, index.json, PAUSE
                notify.cursor, notify/  notification delivery
                landing/                the merge queue: lander.lock, progress.json, slot-<n> scratch
                                        worktrees for the check, checks/ their logs, rebase/ the
                                        scratch worktree land_strategy rebase builds candidates in
"""

from __future__ import annotations

from pathlib import Path

# In a path setting: the repository's common git directory (.git of the main checkout). Queue and state
# live there by default, where no routine git command (stash -u, clean -fdx, checkout ., reset --hard,
# gc) looks, and where `git status` never lists them.
GIT_COMMON_DIR = "{git_common_dir}"


def git_common_dir(directory: Path) -> Path | None:
    """The common git directory of the repository that holds directory, read from the files git keeps
    (no git process: config loading stays fast): <top>/.git when it is a directory; in a linked
    worktree .git is a file naming its private git directory, whose `commondir` names the common one."""
    for top in (directory, *directory.parents):
        dot = top / ".git"
        if dot.is_dir():
            return dot.resolve()
        if dot.is_file():
            text = dot.read_text(errors="replace").strip()
            if not text.startswith("gitdir:"):
                return None
            private = (top / text.removeprefix("gitdir:").strip()).resolve()
            common = private / "commondir"
            if common.is_file():
                return (private / common.read_text().strip()).resolve()
            return private
    return None


# The prompt's copy inside the task's worktree, where CLIs confined to their workspace can read it;
# git never sees it (info/exclude) and the runner deletes it when the agent is done.
WORKTREE_PROMPT_NAME = ".orchestrator-prompt.md"


class StateDir:
    def __init__(self, root: Path | str):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"StateDir({str(self.root)!r})"

    # attempts, worktrees
    runs = property(lambda self: self.root / "runs")
    worktrees = property(lambda self: self.root / "worktrees")
    pool = property(lambda self: self.root / "pool")

    def worktree(self, task_id: str) -> Path:
        return self.worktrees / task_id

    # a person's worktrees of task branches (checkout ID), removed when the task is decided or by prune
    review = property(lambda self: self.root / "review")
    imports = property(lambda self: self.root / "imports")  # what each imported plan made (store/imports.py)

    def review_worktree(self, task_id: str) -> Path:
        return self.review / task_id

    # journal and logs
    journal = property(lambda self: self.root / "events.jsonl")
    logs = property(lambda self: self.root / "logs")
    log_file = property(lambda self: self.root / "logs" / "orchestrator.jsonl")
    # rotated by size (base/log.py): <log>.1 the newest generation .. <log>.5; <log>.lock held while rotating
    log_lock = property(lambda self: self.root / "logs" / "orchestrator.jsonl.lock")

    def log_generation(self, n: int) -> Path:
        return self.logs / f"orchestrator.jsonl.{n}"

    # locks
    locks = property(lambda self: self.root / "locks")
    task_locks = property(lambda self: self.root / "locks" / "tasks")
    tick_lock = property(lambda self: self.root / "locks" / "tick.lock")
    daemon_lock = property(lambda self: self.root / "locks" / "daemon.lock")
    agents_lock = property(lambda self: self.root / "locks" / "agents.lock")
    sweep_stamp = property(lambda self: self.root / "locks" / "sweep.stamp")

    # what the daemon and the tick leave for observers
    daemon_pid = property(lambda self: self.root / "daemon.pid")
    last_tick = property(lambda self: self.root / "last_tick.json")
    config_status = property(lambda self: self.root / "config_status.json")
    agents = property(lambda self: self.root / "agents.json")
    index = property(lambda self: self.root / "index.json")
    pause_file = property(lambda self: self.root / "PAUSE")  # while it exists, no new work starts

    # the merge queue (flow/land.py)
    landing = property(lambda self: self.root / "landing")
    land_lock = property(lambda self: self.root / "landing" / "lander.lock")
    land_progress = property(lambda self: self.root / "landing" / "progress.json")
    land_status = property(lambda self: self.root / "landing" / "status.json")
    check_logs = property(lambda self: self.root / "landing" / "checks")
    rebase_scratch = property(lambda self: self.root / "landing" / "rebase")  # not a check slot: no setup

    def check_slot(self, n: int) -> Path:
        return self.root / "landing" / f"slot-{n}"

    # notifications
    notify_cursor = property(lambda self: self.root / "notify.cursor")
    notify_log = property(lambda self: self.root / "logs" / "notify.log")
    notify_spool = property(lambda self: self.root / "notify")
