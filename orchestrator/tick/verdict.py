"""An attempt judged: what its agent's exit, output, commits and own result file make of it.

The runner (tick/runner.py) runs the agent; this decides the attempt's outcome: success, a
failure with the agent's own error line, no commits, tool noise only, a usage limit to rest for,
a stall, a review's verdict, a breakdown's subtasks. Only the auto-commit and the undoing of refs
the agent may not touch change anything here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from orchestrator.base import log
from orchestrator.base.bounded import read_limited, tail_lines
from orchestrator.base.clock import iso, utcnow
from orchestrator.base.errors import OrchestratorError
from orchestrator.flow.outbox import read_outbox
from orchestrator.formats.agent_output import (
    around_limit,
    error_line,
    find_limit,
    only_tool_noise,
    plainly_real,
    reset_time,
    strip_ansi,
)
from orchestrator.formats.config import BREAKDOWN_ROLE
from orchestrator.git import guard
from orchestrator.git.repo import Repo
from orchestrator.store.attempts import Attempt, Result, Runs, Spec
from orchestrator.store.backend import QueueBackend

_log = log.get("orchestrator.runner")
LOG_TAIL_BYTES = 600


class Progress:
    """What the runner learns along the attempt: how long each step took (monotonic clock, for
    the log: where the time goes), whether it saw the worktree clean after the agent, and whether
    it committed (the repository's maintenance is then its to run, see Repo.commit_all)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.worktree_clean = False  # auto-commit left nothing behind, and nothing ran there since
        self.committed = False
        self._last = time.monotonic()

    def mark(self, step: str) -> None:
        now = time.monotonic()
        self.seconds[step] = round(self.seconds.get(step, 0.0) + now - self._last, 4)
        self._last = now


MIN_REST_SECONDS = 60.0  # the shortest rest after a limit ended an attempt
LIMIT_SCAN_BYTES = 256 * 1024  # how much of the agent's newest output is searched for a limit message


def usage_limit(attempt: Attempt, spec: Spec, exit_code: int, progressed: Callable[[], bool]) -> Result | None:
    """The agent hit its provider's usage limit: no verdict on the task, the agent must rest.

    The whole recent output is searched (a CLI may print more lines after the message), but a
    message alone counts only when the attempt got nowhere: an agent that exits 0 having changed
    something may well have printed "rate limit" while writing a rate limiter."""
    lines = [strip_ansi(line) for line in tail_lines(attempt.log_path, LIMIT_SCAN_BYTES)]
    text = "\n".join(lines)
    pattern = find_limit(text, spec.usage_limit_patterns)
    if pattern is not None and exit_code == 0 and progressed():  # asked only then: two git calls
        pattern = None
    if exit_code not in spec.usage_limit_exit_codes and pattern is None:
        return None
    why = f"exit code {exit_code}" if exit_code in spec.usage_limit_exit_codes else f"output says {pattern!r}"
    message, nearby = around_limit(lines, pattern)
    now = utcnow()
    # The time on the message's own line first ("try again at 10:15 PM"), then beside it.
    until = (reset_time(message, now) or reset_time(nearby, now)
             or now + timedelta(seconds=spec.usage_limit_cooldown_seconds))
    until = max(until, now + timedelta(seconds=MIN_REST_SECONDS))  # "retry in 2 s": the CLI had its chance
    return Result("usage_limit", f"usage limit ({why}); agent resting until {iso(until)}: {message[-300:]}",
                  iso(now), exit_code=exit_code, counts=False, resume_at=iso(until))


def stalled(attempt: Attempt, spec: Spec) -> Result:
    """A stall is retried without counting the attempt; a second in a row needs a person (blocked)."""
    why = (f"stalled: no output and no file change in the worktree for {spec.stall_seconds:g} s "
           f"(stall_seconds); last output: {tail(attempt.log_path, 300)}")
    previous = Runs(Path(spec.state_dir)).get(spec.task_id, attempt.number - 1)
    before = previous.result() if previous is not None else None
    if before is not None and before.outcome == "stalled":
        return Result("blocked", f"stalled twice in a row; check the agent's model endpoint and network, then "
                      f"'python -m orchestrator retry {spec.task_id}'. {why}"[:2000], iso(utcnow()), counts=False)
    return Result("stalled", why[:2000], iso(utcnow()), counts=False)


def made_progress(repo: Repo, spec: Spec, start: guard.Heads) -> bool:
    """Did the attempt change anything: a new commit on its branch, or changes left to commit?"""
    worktree = Path(spec.worktree)
    head = repo.git("rev-parse", "--verify", "--quiet", "HEAD", cwd=worktree, check=False).strip()
    return head != (start.branch or start.base) or (worktree.is_dir() and
                                                     repo.is_dirty(worktree, ignoring=spec.noise_paths))


def evaluate_review(attempt: Attempt, spec: Spec, exit_code: int, timed_out: bool) -> Result:
    """A reviewer accepts with exit 0; rejects with a non-zero exit or {"status": "rejected"}.

    A reviewer that times out or is killed by a signal has not decided: the review is retried.
    """
    now = iso(utcnow())
    if timed_out or exit_code < 0:
        why = "timed out" if timed_out else f"was killed by signal {-exit_code}"
        return Result("review_error", f"the reviewer {why}; the review will be retried", now,
                      exit_code=exit_code, counts=False)
    said = read_agent_result(attempt)
    if said.get("status") == "rejected" or exit_code != 0:
        reason = str(said.get("reason") or f"the reviewer exited {exit_code}: {tail(attempt.log_path)}")
        return Result("rejected", reason[:2000], now, exit_code=exit_code)
    return Result("accepted", str(said.get("summary") or "accepted by the reviewer")[:2000], now, exit_code=0)


def evaluate_breakdown(attempt: Attempt, spec: Spec, task, queue: QueueBackend, now: str) -> Result:
    """A breakdown succeeds when its outbox holds valid subtasks (no commits needed)."""
    depth = breakdown_depth(queue, task)
    if depth >= spec.project.max_breakdown_depth:
        return Result("failed", f"this task is already {depth} breakdowns deep (max_breakdown_depth "
                      f"{spec.project.max_breakdown_depth}); it cannot be split further", now, exit_code=0)
    try:
        subtasks = read_outbox(attempt.outbox, task)
    except OrchestratorError as exc:
        return Result("failed", str(exc)[:4000], now, exit_code=0)
    if not subtasks:
        return Result("failed", "the breakdown agent wrote no task files into ORCH_OUTBOX", now, exit_code=0)
    return Result("broken_down", f"split into {len(subtasks)} subtasks: "
                  + ", ".join(t.id for t in subtasks)[:1500], now, exit_code=0)


def breakdown_depth(queue: QueueBackend, task) -> int:
    """How many breakdowns made this task (0 for a task a person wrote)."""
    depth, parent = 0, task.parent
    while parent and depth < 20:
        depth += 1
        state = queue.locate(parent)
        if state is None:
            break
        parent = queue.read(parent, state)[1].parent
    return depth


def evaluate(attempt: Attempt, spec: Spec, repo: Repo, exit_code: int, timed_out: bool, task=None,
             queue: QueueBackend | None = None, progress: Progress | None = None,
             start: guard.Heads | None = None) -> Result:
    now = iso(utcnow())
    worktree = Path(spec.worktree)
    notes = check_refs(repo, spec, worktree, start) if start is not None and worktree.is_dir() else []
    if notes and notes[0].startswith("!"):
        return Result("failed", "; ".join(n.lstrip("!") for n in notes)[:4000], now, exit_code=exit_code)
    if timed_out:
        return Result("timeout", f"killed after {spec.timeout_seconds:g} s (timeout_seconds); "
                      f"last output: {tail(attempt.log_path)}", now, exit_code=exit_code)
    # One `git status` serves both the conflict check and the auto-commit (nothing runs there now).
    seen = repo.status(worktree, ignoring=spec.noise_paths) if exit_code == 0 and worktree.is_dir() else None
    if seen is not None and seen.unmerged:  # auto_commit would commit the conflict markers (and a merge queue could land them)
        return Result("failed", "the agent exited 0 but left the merge unfinished: unresolved conflicts in "
                      f"{', '.join(seen.unmerged[:10])}; nothing was committed" + _said(tail_lines(
                          attempt.log_path, LIMIT_SCAN_BYTES)), now, exit_code=0)
    committed = False
    if spec.auto_commit and seen is not None:
        committed = repo.commit_all(worktree, f"{spec.task_id}: {spec.title}\n\n"
                                              f"Committed by orchestrator for agent {spec.agent}, attempt {spec.attempt}.",
                                    ignoring=spec.noise_paths, seen=seen)
        if progress is not None:  # the agent's processes are gone: nothing can dirty it before removal
            progress.worktree_clean, progress.committed = True, committed
    said = read_agent_result(attempt)
    if said.get("status") == "blocked":
        return Result("blocked", str(said.get("reason") or "the agent said it is blocked")[:2000], now,
                      exit_code=exit_code, counts=False)
    if spec.role == BREAKDOWN_ROLE and exit_code == 0 and queue is not None:
        return evaluate_breakdown(attempt, spec, task, queue, now)
    commits = repo.commits_ahead(spec.branch, spec.base_branch)
    output = tail_lines(attempt.log_path, LIMIT_SCAN_BYTES)
    if exit_code != 0:
        said_error = error_line(output)
        return Result("failed", f"exit code {exit_code}: {said_error or tail(attempt.log_path)}", now,
                      exit_code=exit_code, commits=commits)
    if commits == 0:
        return Result("no_commits", "the agent exited 0 but made no commit beyond the base branch"
                      + _said(output), now, exit_code=0)
    # When the branch's one commit is ours, it holds just the paths status listed: if one of them
    # is plainly a real change, the diff need not be read.
    real = committed and commits == 1 and seen is not None and plainly_real(seen.paths, spec.noise_paths)
    if not real and only_tool_noise(repo.changes(spec.base_branch, spec.branch), spec.noise_paths):
        return Result("no_changes", "the agent exited 0, but its commits change only files its tool writes for "
                      f"itself ({', '.join(spec.noise_paths[:4])}, ...)" + _said(output), now, exit_code=0,
                      commits=commits)
    summary = str(said.get("summary") or f"{commits} commit(s) on {spec.branch}")
    if notes:
        summary += " (" + "; ".join(notes) + ")"
    return Result("success", summary[:2000], now, exit_code=0, commits=commits)


def _said(output: list[str]) -> str:
    """The agent's own error line, for a verdict's reason (aider exits 0 after its model call failed)."""
    line = error_line(output)
    return f"; it said: {line}" if line else ""


def check_refs(repo: Repo, spec: Spec, worktree: Path, start: guard.Heads) -> list[str]:
    """What the agent did to refs it may not touch, undone where it can be (git/guard.py). A note
    starting with "!" makes the attempt a failure: nothing of it may be committed or reviewed."""
    notes: list[str] = []
    base_note = guard.take_back_base(repo, worktree, spec.base_branch, start, spec.task_id, spec.attempt)
    if base_note:
        notes.append("!" + base_note)
    switched = guard.back_on_branch(repo, worktree, spec.branch)
    if switched and "failed" in switched:
        notes.insert(0, "!" + switched)
    elif switched:
        notes.append(switched)
    rewritten = guard.keep_rewritten(repo, spec.branch, start, spec.task_id, spec.attempt)
    if rewritten:
        notes.append(rewritten)
    if any(n.startswith("!") for n in notes):
        notes.sort(key=lambda n: not n.startswith("!"))
    for note in notes:
        _log.warning("agent_touched_refs", task=spec.task_id, attempt=spec.attempt, detail=note.lstrip("!"))
    return notes


AGENT_RESULT_MAX_BYTES = 65536


def read_agent_result(attempt: Attempt) -> dict:
    """The agent's own result file: read with a size limit and without blocking (it may be a link
    to /dev/zero, a huge sparse file or a FIFO: base/bounded.py); anything unreadable says nothing."""
    try:
        raw = read_limited(attempt.agent_result_path, AGENT_RESULT_MAX_BYTES)
        data = json.loads(raw)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        _log.warning("agent_result_unreadable", path=str(attempt.agent_result_path), error=str(exc))
        return {}
    return data if isinstance(data, dict) else {}




def tail(path: Path, limit: int = LOG_TAIL_BYTES) -> str:
    lines = [clean for line in tail_lines(path, limit) if (clean := strip_ansi(line).strip())]
    return " | ".join(lines[-3:]) if lines else "(no output)"
