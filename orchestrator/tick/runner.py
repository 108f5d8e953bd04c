"""The runner: a detached process that owns one attempt of one task from start to finish.

    python -m orchestrator.runner <attempt dir>

It takes ownership of the attempt (owner.json, exactly once), prepares the worktree,
writes the prompt, starts the agent in its own process group with a marker in its
environment, enforces the timeout on the agent's own running time (the monotonic clock
stops while the machine sleeps), kills whatever the agent left running, auto-commits,
writes result.json and only then moves the task. Any step may be cut by kill -9: the next
tick's reconciler finishes the job from the records left here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from orchestrator.base import log
from orchestrator.base.bounded import read_limited, tail_lines
from orchestrator.base.clock import iso, utcnow
from orchestrator.base.errors import GitError, OrchestratorError
from orchestrator.base.faults import crash_point
from orchestrator.base.redact import scrub, secret_values
from orchestrator.flow import prepare
from orchestrator.flow.outbox import read_outbox
from orchestrator.flow.prepare import Preparation
from orchestrator.flow.review import write_diff
from orchestrator.flow.settle import settle
from orchestrator.formats.agent_output import error_line, find_limit, only_tool_noise, reset_time, strip_ansi
from orchestrator.formats.config import BREAKDOWN_ROLE, expand_command
from orchestrator.formats.layout import WORKTREE_PROMPT_NAME, StateDir
from orchestrator.formats.usage import usage_of
from orchestrator.git import guard, share, worktrees
from orchestrator.git.repo import Repo
from orchestrator.process import tree
from orchestrator.process.agentenv import WORKTREE_VENV, agent_environment, resolve_program, with_worktree_venv
from orchestrator.process.supervise import run_supervised
from orchestrator.process.wake import poke
from orchestrator.store.attempts import Attempt, Result, Runs, Spec
from orchestrator.store.backend import QueueBackend, open_queue
from orchestrator.tick.lease import LeaseKeeper
from orchestrator.tick.prompt import merge_base_for_landing, render_prompt, set_aside_leftovers

_log = log.get("orchestrator.runner")
LOG_TAIL_BYTES = 600


def main(argv: list[str] | None = None, *, forked: bool = False) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m orchestrator.runner ATTEMPT_DIR", file=sys.stderr)
        return 2
    directory = Path(args[0])
    spec = Attempt(directory, "", 0).spec()
    if spec is None:
        print(f"{directory}: no spec.json", file=sys.stderr)
        return 2
    log.configure(StateDir(spec.state_dir).log_file, to_terminal=False)
    return run_attempt(Attempt(directory, spec.task_id, spec.attempt), spec, forked=forked)


def run_attempt(attempt: Attempt, spec: Spec, *, forked: bool = False) -> int:
    me = tree.identity_of(os.getpid())
    assert me is not None, "a running process always has an identity"
    owner = {**me.as_record(), "host": socket.gethostname(), "role": "runner", "since": iso(utcnow()),
             "forked": forked}
    if not attempt.take_ownership(owner):
        _log.warning("attempt_already_owned", task=spec.task_id, attempt=spec.attempt)
        return 0
    queue = open_queue(spec.project)
    if queue.locate(spec.task_id) != "claimed" or (spec.fence and not queue.holds_claim(spec.task_id, spec.fence)):
        _log.warning("task_not_claimed_any_more", task=spec.task_id, attempt=spec.attempt)
        return 0
    queue.journal.append("started", task=spec.task_id, actor="runner", attempt=spec.attempt,
                         agent=spec.agent, pid=me.pid)
    if spec.fence:
        queue.bind_claim(spec.task_id, spec.fence)  # every move this runner makes carries its claim's fence
    progress = Progress()
    with LeaseKeeper(queue, spec):  # renewed until the task has moved on, the push and the settle included
        result = attempt_result(attempt, spec, queue, progress)
        share_branch(Repo(Path(spec.repo)), spec, queue)
        attempt.write_result(result)
        crash_point("runner_after_result")
        progress.mark("evaluate")
        finish(queue, spec, attempt, result, progress)
    return 0


def attempt_result(attempt: Attempt, spec: Spec, queue: QueueBackend, progress: Progress) -> Result:
    """The attempt run and judged, as it will be recorded."""
    try:
        result = execute(attempt, spec, queue, progress)
        crash_point("runner_after_agent")
    except Exception as exc:  # a bug or an environment failure: record it, never leave the task hanging
        _log.error("runner_error", task=spec.task_id, attempt=spec.attempt, exc_info=True)
        result = Result("runner_error", f"{type(exc).__name__}: {exc}", iso(utcnow()))
        (attempt.dir / "runner-error.txt").write_text(traceback.format_exc())
    # What a person reads (last_error, status, notifications) never carries terminal escapes; the log keeps them.
    result = dataclasses.replace(with_usage(result, attempt), reason=strip_ansi(result.reason))
    secrets = secret_values(attempt_environment(spec, attempt, {}))
    if secrets:  # what the agent printed may quote its own keys: keep them out of our records
        result = dataclasses.replace(result, reason=scrub(result.reason, secrets))
    return result


def with_usage(result: Result, attempt: Attempt) -> Result:
    """The result with the tokens and cost the agent's CLI reported, if it did."""
    if not attempt.log_path.exists():
        return result
    used = usage_of([strip_ansi(line) for line in tail_lines(attempt.log_path, USAGE_SCAN_BYTES)])
    if used is None:
        return result
    return dataclasses.replace(result, input_tokens=used.input_tokens, output_tokens=used.output_tokens,
                               cost_usd=used.cost_usd, model=used.model)


def finish(queue: QueueBackend, spec: Spec, attempt: Attempt, result: Result, progress: Progress) -> None:
    """Move the task on, wake the daemon for the next one, and only then delete the old worktree's files."""
    state = settle(queue, spec, attempt, result, actor="runner", delete_files=False,
                   checked_clean=progress.worktree_clean)
    poke(Path(spec.state_dir))
    progress.mark("settle")
    os.nice(10)  # what is left is cleanup: the next attempt's runner and agent have the CPU first
    worktrees.delete_moved_aside(Path(spec.worktree))
    progress.mark("cleanup")
    _log.info("attempt_settled", task=spec.task_id, attempt=spec.attempt, outcome=result.outcome, state=state,
              seconds=progress.seconds)


class Progress:
    """What the runner learns along the attempt: how long each step took (monotonic clock, for
    the log: where the time goes), and whether it saw the worktree clean after the agent."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.worktree_clean = False  # auto-commit left nothing behind, and nothing ran there since
        self._last = time.monotonic()

    def mark(self, step: str) -> None:
        now = time.monotonic()
        self.seconds[step] = round(self.seconds.get(step, 0.0) + now - self._last, 4)
        self._last = now


def execute(attempt: Attempt, spec: Spec, queue: QueueBackend, progress: Progress) -> Result:
    repo = Repo(Path(spec.repo))
    worktree = Path(spec.worktree)
    remote = shared_remote(spec)
    if remote is not None:
        try:  # another machine's earlier attempt may have moved the branch on
            share.fetch_task_branch(repo, remote, spec.branch, worktree)
        except GitError as exc:
            return Result("worktree_failed", f"could not fetch '{spec.branch}' from {remote}: {exc}", iso(utcnow()),
                          counts=False)
    try:
        reused = worktrees.prepare_worktree(repo, worktree, spec.branch, spec.base_branch, sparse_paths=spec.sparse_paths,
                                            pool_dir=pool_dir(spec) if spec.project.worktree_pool else None,
                                            review_dir=StateDir(spec.state_dir).review)  # a person's checkout lets go
    except GitError as exc:
        return Result("worktree_failed", f"could not prepare the worktree: {exc}", iso(utcnow()), counts=False)
    progress.mark("worktree")
    leftover = set_aside_leftovers(repo, spec, attempt) if reused else None
    _, task = queue.read(spec.task_id, "claimed")
    try:
        landing_merge = merge_base_for_landing(repo, spec, task)
    except GitError as exc:
        return Result("worktree_failed", f"could not merge {spec.base_branch} into the branch the merge queue sent "
                                         f"back: {exc}", iso(utcnow()), counts=False)
    start = guard.snapshot(repo, spec.branch, spec.base_branch, worktree)
    extra_env = {}
    if spec.phase == "review":
        write_diff(repo, spec.base_branch, spec.branch, attempt.diff_path)
        extra_env["ORCH_DIFF_FILE"] = str(attempt.diff_path)
    if spec.port_count:
        extra_env.update(ORCH_PORT_BASE=str(spec.port_base), ORCH_PORT_COUNT=str(spec.port_count))
    prompt = render_prompt(task.title, task.body, spec.feedback, spec, attempt, leftover=leftover,
                           landing_merge=landing_merge)
    attempt.prompt_path.write_text(prompt, encoding="utf-8")  # the record
    repo.exclude(WORKTREE_PROMPT_NAME)
    worktree_prompt(spec).write_text(prompt, encoding="utf-8")  # where a confined CLI can read it
    attempt.outbox.mkdir(exist_ok=True)
    env = attempt_environment(spec, attempt, extra_env)
    if not reused:
        problem = make_ready(attempt, spec, repo, worktree, env)
        if problem is not None:
            return problem
    if (worktree / WORKTREE_VENV).is_dir():
        repo.exclude(f"/{WORKTREE_VENV}/")  # the worktree's environment, never part of the work
        env = with_worktree_venv(env, worktree)
    values = {"task_id": spec.task_id, "title": spec.title, "prompt": prompt, "prompt_file": str(worktree_prompt(spec)),
              "worktree": spec.worktree, "branch": spec.branch, "attempt": str(spec.attempt), "agent": spec.agent}
    argv = expand_command(spec.command, values)
    argv[0] = resolve_program(argv[0], env) or argv[0]  # on the agent's PATH, else beside the orchestrator
    crash_point("runner_before_agent")
    progress.mark("setup")
    ran = run_supervised(argv, cwd=worktree, env=env, log_path=attempt.log_path, timeout=spec.timeout_seconds,
                         token=spec.token, grace=spec.kill_grace_seconds, record_path=attempt.agent_path,
                         memory_limit_mb=spec.memory_limit_mb, cpu_limit_seconds=spec.cpu_limit_seconds,
                         max_log_mb=spec.max_log_mb, adopt_orphans=True, stall_seconds=spec.stall_seconds,
                         stdin_path=worktree_prompt(spec) if spec.prompt_on_stdin else None)
    progress.mark("agent")
    worktree_prompt(spec).unlink(missing_ok=True)  # never part of the agent's work
    if ran.exit_code is None:
        return Result("start_failed", f"could not start {argv[0]!r}: {ran.error}", iso(utcnow()), counts=False)
    if ran.limit:
        return Result("limit_exceeded", f"killed: {ran.limit}", iso(utcnow()), exit_code=ran.exit_code)
    limited = usage_limit(attempt, spec, ran.exit_code, lambda: made_progress(repo, spec, start))
    if limited is not None:
        return limited
    if ran.stalled:
        return stalled(attempt, spec)
    if spec.phase == "review":
        return evaluate_review(attempt, spec, ran.exit_code, ran.timed_out)
    return evaluate(attempt, spec, repo, ran.exit_code, ran.timed_out, task, queue, progress, start)


def shared_remote(spec: Spec) -> str | None:
    """The remote task branches travel through: `push` on a queue that several machines share."""
    return spec.project.push if spec.project.queue_url else None


def share_branch(repo: Repo, spec: Spec, queue: QueueBackend) -> None:
    """Push the task branch for the machines that review, land or run it next; a failure is recorded,
    and the branch stays here (the next attempt's push, or a person, sends it)."""
    remote = shared_remote(spec)
    if remote is None or repo.branch_commit(spec.branch) is None:
        return
    if spec.fence and not queue.holds_claim(spec.task_id, spec.fence):
        _log.warning("branch_not_pushed", task=spec.task_id, reason="the claim moved on to another runner")
        return
    problem = share.push_task_branch(repo, remote, spec.branch)
    if problem:
        _log.warning("branch_push_failed", task=spec.task_id, remote=remote, error=problem)
        queue.journal.append("branch_push_failed", task=spec.task_id, actor="runner", remote=remote,
                             reason=problem[:2000])


def worktree_prompt(spec: Spec) -> Path:
    return Path(spec.worktree) / WORKTREE_PROMPT_NAME


def pool_dir(spec: Spec) -> Path:
    return StateDir(spec.state_dir).pool


def attempt_environment(spec: Spec, attempt: Attempt, extra: dict) -> dict:
    return agent_environment(os.environ, spec.env_passthrough, spec.env, {
        "ORCH_TASK_ID": spec.task_id, "ORCH_TASK_TITLE": spec.title, "ORCH_PROMPT_FILE": str(worktree_prompt(spec)),
        "ORCH_WORKTREE": spec.worktree, "ORCH_BRANCH": spec.branch, "ORCH_BASE_BRANCH": spec.base_branch,
        "ORCH_AGENT": spec.agent, "ORCH_ROLE": spec.role, "ORCH_ATTEMPT": str(spec.attempt),
        "ORCH_RESULT_FILE": str(attempt.agent_result_path), "ORCH_OUTBOX": str(attempt.outbox),
        tree.MARKER_VAR: spec.token, **extra,
    })


def make_ready(attempt: Attempt, spec: Spec, repo: Repo, worktree: Path, env: dict) -> Result | None:
    """Copy the gitignored files the project needs and run the setup command in a new worktree
    (flow/prepare.py, as for a merge-queue check slot)."""
    prep = Preparation(spec.copy_files, spec.setup, spec.setup_timeout_seconds, spec.kill_grace_seconds,
                       spec.max_log_mb)
    failed = prepare.make_ready(Path(spec.repo), worktree, prep, env=env, log_path=attempt.setup_log_path,
                                token=spec.token, adopt_orphans=True)
    if failed is None:
        return None
    output = f"; output: {tail(attempt.setup_log_path, 2000)}" if failed.setup_ran else ""
    return Result("setup_failed", failed.why + output, iso(utcnow()), exit_code=failed.exit_code)


USAGE_SCAN_BYTES = 8 * 1024 * 1024  # of the newest output, searched for the CLI's token reports
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
    message = next((line for line in reversed(lines) if pattern and pattern.casefold() in line.casefold()),
                   lines[-1] if lines else "")
    now = utcnow()
    until = reset_time(text, now) or now + timedelta(seconds=spec.usage_limit_cooldown_seconds)
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
    unresolved = repo.unmerged_files(worktree) if exit_code == 0 and worktree.is_dir() else []
    if unresolved:  # auto_commit would commit the conflict markers (and a merge queue could land them)
        return Result("failed", "the agent exited 0 but left the merge unfinished: unresolved conflicts in "
                      f"{', '.join(unresolved[:10])}; nothing was committed" + _said(tail_lines(
                          attempt.log_path, LIMIT_SCAN_BYTES)), now, exit_code=0)
    if spec.auto_commit and exit_code == 0 and worktree.is_dir():
        repo.commit_all(worktree, f"{spec.task_id}: {spec.title}\n\n"
                                  f"Committed by orchestrator for agent {spec.agent}, attempt {spec.attempt}.",
                        ignoring=spec.noise_paths)
        if progress is not None:  # the agent's processes are gone: nothing can dirty it before removal
            progress.worktree_clean = True
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
    if only_tool_noise(repo.changes(spec.base_branch, spec.branch), spec.noise_paths):
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


def entry(argv: list[str] | None = None, *, forked: bool = False) -> int:
    """main() with expected errors as one line on stderr and their exit code."""
    try:
        return main(argv, forked=forked)
    except OrchestratorError as exc:
        print(f"orchestrator runner: {exc}", file=sys.stderr)
        return exc.exit_code


