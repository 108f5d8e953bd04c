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
import os
import socket
import sys
import traceback
from pathlib import Path

from orchestrator.base import log, records
from orchestrator.base.bounded import tail_lines
from orchestrator.base.clock import iso, utcnow
from orchestrator.base.errors import GitError, OrchestratorError
from orchestrator.base.faults import crash_point
from orchestrator.base.redact import scrub, secret_values
from orchestrator.flow import prepare
from orchestrator.flow.prepare import Preparation
from orchestrator.flow.review import write_diff
from orchestrator.flow.settle import settle
from orchestrator.formats.agent_output import strip_ansi
from orchestrator.formats.config import expand_command
from orchestrator.formats.layout import WORKTREE_PROMPT_NAME, StateDir
from orchestrator.formats.usage import usage_of
from orchestrator.git import guard, share, worktrees
from orchestrator.git.repo import Repo
from orchestrator.process import tree
from orchestrator.process.agentenv import WORKTREE_VENV, agent_environment, resolve_program, with_worktree_venv
from orchestrator.process.supervise import run_supervised
from orchestrator.process.wake import poke
from orchestrator.store.attempts import Attempt, Result, Spec
from orchestrator.store.backend import QueueBackend, open_queue
from orchestrator.tick.lease import LeaseKeeper
from orchestrator.tick.prompt import merge_base_for_landing, render_prompt, set_aside_leftovers
from orchestrator.tick.verdict import Progress, evaluate, evaluate_review, made_progress, stalled, tail, usage_limit

_log = log.get("orchestrator.runner")


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
    """Move the task on, wake the daemon for the next one, and only then delete the old worktree's
    files and run the maintenance our commit left out (neither is the next task's to wait for)."""
    state = settle(queue, spec, attempt, result, actor="runner", delete_files=False,
                   checked_clean=progress.worktree_clean)
    poke(Path(spec.state_dir))
    progress.mark("settle")
    os.nice(10)  # what is left is cleanup: the next attempt's runner and agent have the CPU first
    worktrees.delete_moved_aside(Path(spec.worktree))
    if progress.committed:
        Repo(Path(spec.repo)).maintain()
    progress.mark("cleanup")
    _log.info("attempt_settled", task=spec.task_id, attempt=spec.attempt, outcome=result.outcome, state=state,
              seconds=progress.seconds)


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


def preload() -> None:
    """What a fork server does once, after its imports, so that the runners it forks need not each
    do it again: the type hints of the records a runner reads. Nothing here opens a file or
    configures anything."""
    records.prepare(Spec, Result)


def entry(argv: list[str] | None = None, *, forked: bool = False) -> int:
    """main() with expected errors as one line on stderr and their exit code."""
    try:
        return main(argv, forked=forked)
    except OrchestratorError as exc:
        print(f"orchestrator runner: {exc}", file=sys.stderr)
        return exc.exit_code


