"""The merge queue: an accepted branch reaches the base branch only inside a commit that passed `check`.

With `merge: queue`, accepting a task (a person, a reviewer agent, `review: none`) moves it to
landing/. A lander (one at a time: lander.lock; the daemon starts one when landing/ has tasks,
`land` runs one in the foreground) works in rounds:

1. recover: a round a crash cut short is finished or forgotten (progress.json, below), and checks
   it left running are stopped;
2. build: up to `land_batch` tasks in queue order (priority, then acceptance time) are stacked on
   the base tip, each branch on the candidate before it (git/landing.py). A branch that conflicts
   with the base itself goes back to its task; one that conflicts only with the batch ahead of it
   waits for the next round, which is built on the new base;
3. check: the candidate with every branch is checked; if it fails, the batch is bisected: the
   longest passing prefix is found with up to `land_parallel` checks at once (with one, a binary
   search), that prefix lands and the first branch that breaks it goes back with the output;
4. land: progress.json names the old and new base commits and the tasks, then the base moves by
   compare-and-swap (or by a fast-forward of the person's clean checkout: git/merge.move_base),
   then the tasks move to done/. A crash after the move finishes on the next round (the base
   contains the new commit), a crash before it forgets the round (the base never moved).

A branch sent back goes to incoming/ with the conflict or the check's output as feedback; its next
attempt starts with the base merged into the branch (tick/runner.py), so the agent resolves it.
After `max_land_attempts` returns the task waits in blocked/ for a person instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from orchestrator.base import durable, log
from orchestrator.base.clock import iso, utcnow
from orchestrator.base.errors import GitError, MergeRefusedError, StateError, TaskFileError
from orchestrator.base.faults import crash_point
from orchestrator.base.locks import FileLock
from orchestrator.flow import graph
from orchestrator.flow.landcheck import CheckResult, run_check, stop_leftover_checks
from orchestrator.formats.config import Config
from orchestrator.formats.layout import StateDir
from orchestrator.formats.task import Task
from orchestrator.git import landing, share
from orchestrator.git.merge import base_blocked, move_base
from orchestrator.git.repo import Repo
from orchestrator.process.wake import poke
from orchestrator.store.backend import QueueBackend, index_of

_log = log.get("orchestrator.land")
STATE = "landing"


@dataclass
class Round:
    """What one round did."""

    landed: list[str] = field(default_factory=list)
    returned: list[tuple[str, str]] = field(default_factory=list)  # (task id, why)
    deferred: list[str] = field(default_factory=list)  # conflicts only with the batch ahead: next round
    waiting: str | None = None  # why nothing could land now (the base's checkout is busy, ...)
    paused: str | None = None  # the queue is paused (PAUSE): no round started
    checks: int = 0
    base: str | None = None  # the base tip after the round

    @property
    def progressed(self) -> bool:
        return bool(self.landed or self.returned)


def in_queue_order(queue: QueueBackend, *, actor: str) -> list[Task]:
    """The tasks in landing/, in the order they land; a file that cannot be a task goes to invalid/
    (by the queue's own rules: TaskIndex), or it would count as waiting to land for ever."""
    entries, broken = index_of(queue).scan(STATE, full=True)
    for name, problem in broken:
        if queue.quarantine(name, STATE, problem, actor=actor) is not None:
            _log.warning("quarantined", file=name, reason=problem)
    tasks = []
    for entry in entries:
        try:
            task = queue.get(entry.id, STATE)
        except (OSError, TaskFileError):
            continue  # rewritten since the scan: the next round sees it as it is
        if task is not None:  # (None: moved on since the scan)
            tasks.append(task)
    now = utcnow()
    return sorted(tasks, key=lambda t: (t.priority, (t.accepted_at or t.created or now).timestamp(), t.id))


class Lander:
    def __init__(self, cfg: Config, queue: QueueBackend, *, actor: str = "merge queue",
                 on_check: Callable[[CheckResult], None] | None = None):
        self.cfg = cfg
        self.queue = queue
        self.repo = Repo(cfg.repo)
        self.state = StateDir(cfg.state_dir)
        self.actor = actor
        self.on_check = on_check

    # ---- one round ----------------------------------------------------------------

    def _catch_up_with_remote(self) -> str | None:
        """On a queue several machines share, the lander may run on any of them: first bring the
        base to where the last lander pushed it (a fast-forward, as move_base does for a person's
        checkout). Returns why it must wait, or None."""
        if not (self.cfg.queue_url and self.cfg.push):
            return None
        base = self.cfg.base_branch
        try:
            tip = share.fetch_ref(self.repo, self.cfg.push, base)
        except GitError as exc:
            return f"cannot fetch {base} from {self.cfg.push}: {exc}"
        local = self.repo.branch_commit(base)
        if tip is None or local is None or tip == local or self.repo.is_ancestor(tip, local):
            return None
        if not self.repo.is_ancestor(local, tip):
            return (f"{base} here and on {self.cfg.push} have both moved on; bring them together (merge or "
                    "push), then the merge queue goes on")
        try:
            move_base(self.repo, base, tip, local)
        except MergeRefusedError as exc:
            return str(exc)
        return None

    def run_round(self) -> Round:
        report = Round(landed=self.recover())
        report.waiting = self._catch_up_with_remote()
        if report.waiting is not None:
            return report
        old = self.repo.branch_commit(self.cfg.base_branch)
        if old is None:
            report.waiting = f"the base branch '{self.cfg.base_branch}' does not exist"
            return report
        report.waiting = base_blocked(self.repo, self.cfg.base_branch)  # no check spent on what cannot land
        if report.waiting is not None:
            return report
        batch = in_queue_order(self.queue, actor=self.actor)[: self.cfg.land_batch]
        if self.cfg.queue_url and self.cfg.push:  # several machines: their attempts' branches are on the remote
            try:
                for task in batch:
                    share.fetch_task_branch(self.repo, self.cfg.push, self.cfg.branch_of(task.id))
            except GitError as exc:
                report.waiting = f"cannot fetch the task branches from {self.cfg.push}: {exc}"
                return report
        stack = self._build(old, batch, report)
        if stack:
            good, culprit = self._search(stack, report)
            if good and not self._land(old, stack[good - 1][1], [task for task, _ in stack[:good]], report):
                return report
            if culprit is not None and culprit.setup_failed:
                report.waiting = self._not_ready(culprit, [task for task, _ in stack[good:]])
            elif culprit is not None:
                self.give_back(stack[good][0], culprit.summary, culprit.output)
                report.returned.append((stack[good][0].id, culprit.summary))
        report.base = self.repo.branch_commit(self.cfg.base_branch)
        return report

    def _build(self, old: str, tasks: list[Task], report: Round) -> list[tuple[Task, str]]:
        """The batch stacked on old: (task, candidate commit with it and everything before it)."""
        stack: list[tuple[Task, str]] = []
        current = old
        for task in tasks:
            branch = self.cfg.branch_of(task.id)
            tip = self.repo.branch_commit(branch)
            if tip is None:
                self.give_back(task, f"its branch {branch} no longer exists", person=True)
                report.returned.append((task.id, "branch gone"))
                continue
            if self.repo.is_ancestor(tip, old):  # landed already (by hand, or an earlier batch)
                self._finish(old, [task.id], how="already on the base")
                report.landed.append(task.id)
                continue
            built = self._stack(current, task, branch, tip)
            if isinstance(built, landing.Conflict):
                if current == old:
                    why = built.describe(self.cfg.base_branch)
                    self.give_back(task, why)
                    report.returned.append((task.id, why))
                else:
                    report.deferred.append(task.id)
                continue
            stack.append((task, built))
            current = built
        return stack

    def _stack(self, onto: str, task: Task, branch: str, tip: str) -> str | landing.Conflict:
        if self.cfg.land_strategy == "rebase" and landing.has_merges(self.repo, onto, tip):
            # a rebase would drop the merge in which the agent resolved a conflict: it would conflict again
            return landing.stack_squash(self.repo, onto, tip, f"{task.title}\n\nTask {task.id} ({branch}), landed "
                                        "by the orchestrator's merge queue as one commit: the branch has merges.")
        if self.cfg.land_strategy == "rebase":  # its own scratch: a check slot it made would lack the setup
            return landing.stack_rebase(self.repo, self.state.rebase_scratch, onto, tip)
        return landing.stack_merge(self.repo, onto, tip, f"Merge {branch}: {task.title}\n\nTask {task.id}, "
                                                         "landed by the orchestrator's merge queue.")

    def _not_ready(self, result: CheckResult, tasks: list[Task]) -> str:
        """Why the round waits when a new check slot's setup failed: the environment, not the branches,
        so no task is sent back or charged a land attempt; the next lander makes the slot again."""
        ids = [task.id for task in tasks]
        _log.warning("land_setup_failed", reason=result.summary, tasks=ids, log=str(result.log_path))
        output = f"\n{result.output}" if result.output else ""
        return (f"{result.summary}; {', '.join(ids)} wait in landing/, not blamed (log: {result.log_path})"
                f"{output}")

    # ---- bisection ----------------------------------------------------------------

    def _search(self, stack: list[tuple[Task, str]], report: Round) -> tuple[int, CheckResult | None]:
        """(k, culprit): the first k candidates' prefix passed; culprit is the check of prefix k+1
        when it failed (None: all n passed), or a check whose slot's setup failed (the search stops
        there: no verdict). Prefix 0 is the base, taken as good."""
        n = len(stack)
        if self.cfg.check is None:
            return n, None
        results: dict[int, CheckResult] = {}
        good, bad = 0, None
        while True:
            if bad is not None and bad == good + 1:
                return good, results[bad]
            points = self._points(good, bad, n)
            self._check_all({k: stack[k - 1][1] for k in points}, results)
            report.checks += len(points)
            failed = [k for k in points if not results[k].passed and not results[k].setup_failed]
            if failed:
                bad = min(failed + ([bad] if bad is not None else []))
            good = max([good] + [k for k in points if results[k].passed and (bad is None or k < bad)])
            unready = [k for k in points if results[k].setup_failed]
            if unready:
                return good, results[unready[0]]
            if bad is None:
                return n, None

    def _points(self, good: int, bad: int | None, n: int) -> list[int]:
        """Which prefixes to check next: the whole batch first (with speculative bisection points when
        slots are free), then evenly spaced prefixes between the last good and the first bad one."""
        slots = self.cfg.land_parallel
        if bad is None:
            inner = list(range(good + 1, n))
            return sorted({n, *_spaced(inner, slots - 1)})
        return _spaced(list(range(good + 1, bad)), slots)

    def _check_all(self, commits: dict[int, str], results: dict[int, CheckResult]) -> None:
        with ThreadPoolExecutor(max_workers=len(commits), thread_name_prefix="check") as pool:
            futures = {k: pool.submit(run_check, self.cfg, self.repo, slot, commit)
                       for slot, (k, commit) in enumerate(sorted(commits.items()))}
            for k, future in futures.items():
                results[k] = future.result()
                _log.info("land_check", commit=commits[k][:12], prefix=k, passed=results[k].passed,
                          log=str(results[k].log_path))
                if self.on_check is not None:
                    self.on_check(results[k])

    # ---- landing and giving back --------------------------------------------------

    def _land(self, old: str, new: str, tasks: list[Task], report: Round) -> bool:
        ids = [task.id for task in tasks]
        # The tasks' locks from the look into landing/ until they are in done/: a cancel or reject
        # either wins before the look (and the round is rebuilt without the task) or waits until the
        # task landed (and finds it done); never a cancelled task's commits on the base.
        with self.queue.task_locks(ids):
            gone = [i for i in ids if not self.queue.in_state(i, STATE)]
            if gone:  # cancelled or sent back by a person while it was checked: rebuild without them
                report.deferred.extend(i for i in ids if i not in gone)
                return False
            durable.make_dirs(self.state.landing)
            durable.write_json_atomic(self.state.land_progress, {"old": old, "new": new, "tasks": ids,
                                                                 "at": iso(utcnow())})
            crash_point("land_before_move")
            try:
                move_base(self.repo, self.cfg.base_branch, new, old)
            except (MergeRefusedError, GitError) as exc:
                # GitError: git refused to fast-forward the person's checkout (an untracked file in the way);
                # the base did not move, so the round waits as for a dirty checkout
                self.state.land_progress.unlink(missing_ok=True)
                report.waiting = str(exc)
                report.deferred.extend(ids)
                return False
            crash_point("land_after_move")
            self._complete(new, ids, how=f"landed on {self.cfg.base_branch} at {new[:12]}")
        self._published(new, ids)  # a push may take minutes: not under the tasks' locks
        report.landed.extend(ids)
        return True

    def _finish(self, new: str, ids: list[str], *, how: str) -> None:
        self._complete(new, ids, how=how)
        self._published(new, ids)

    def _complete(self, new: str, ids: list[str], *, how: str) -> None:
        for task_id in ids:
            graph.complete(self.queue, task_id, STATE, actor=self.actor, event="landed", reason=how,
                           landed=new, updates={"blocked_reason": None, "last_error": None})
        crash_point("land_after_done")

    def _published(self, new: str, ids: list[str]) -> None:
        """Push what landed (push: REMOTE), then forget the round's progress."""
        if self.cfg.push:
            refs = [f"{new}:refs/heads/{self.cfg.base_branch}"] + [
                f"refs/heads/{self.cfg.branch_of(i)}" for i in ids if self.repo.branch_exists(self.cfg.branch_of(i))]
            problem = landing.push(self.repo, self.cfg.push, refs)
            self.queue.journal.append("pushed" if problem is None else "push_failed", actor=self.actor,
                                      remote=self.cfg.push, tasks=ids, reason=problem)
        self.state.land_progress.unlink(missing_ok=True)

    def give_back(self, task: Task, why: str, output: str = "", *, person: bool = False) -> str | None:
        """Send a task back from landing/: to incoming/ with the feedback, or to blocked/ for a person
        once it has gone back max_land_attempts times (or when an agent cannot help: person)."""
        count = task.land_attempts + 1
        note = f"the merge queue could not land the branch: {why}"
        if output:
            note += f"\n\nOutput of the check (its end):\n```\n{output}\n```"
        if person or count > self.cfg.max_land_attempts:
            dst = "blocked"
            updates = {"land_attempts": count, "last_error": note, "blocked_reason": (
                f"could not land ({why}); sent back {count - 1} times (max_land_attempts "
                f"{self.cfg.max_land_attempts}): fix {self.cfg.branch_of(task.id)}, then "
                f"'python -m orchestrator accept {task.id}' queues it again")}
        else:
            dst = "incoming"
            updates = {"feedback": task.feedback + (note,), "land_attempts": count, "attempts": 0,
                       "retry_after": None, "last_error": note}
        moved = self.queue.transition(task.id, STATE, dst, actor=self.actor, event="land_returned", reason=why,
                                      updates=updates)
        return dst if moved is not None else None

    # ---- crash recovery -----------------------------------------------------------

    def recover(self) -> list[str]:
        """Finish or forget the round a crash cut short; stop its checks. Returns the tasks finished."""
        stopped = stop_leftover_checks(self.cfg)
        if stopped:
            _log.info("land_checks_stopped", processes=stopped)
        progress = durable.read_json(self.state.land_progress)
        if not progress:
            return []
        tip = self.repo.branch_commit(self.cfg.base_branch)
        if tip is not None and self.repo.is_ancestor(progress["new"], tip):
            ids = [i for i in progress["tasks"] if self.queue.in_state(i, STATE)]
            self._finish(progress["new"], ids, how=f"landed on {self.cfg.base_branch} at {progress['new'][:12]} "
                                                   "(finished after an interruption)")
            return ids
        self.state.land_progress.unlink(missing_ok=True)  # the base never moved: the round is rebuilt
        return []


def _spaced(candidates: list[int], count: int) -> list[int]:
    """count values of candidates, evenly spaced (all of them when count covers them)."""
    if count <= 0 or not candidates:
        return []
    if count >= len(candidates):
        return candidates
    step = len(candidates) / (count + 1)
    return sorted({candidates[min(len(candidates) - 1, int((i + 1) * step))] for i in range(count)})


@contextmanager
def lander_lock(cfg: Config, queue: QueueBackend) -> Iterator[bool]:
    """The one lander: yields False when another holds it, on this machine (a file lock the kernel
    frees when a lander dies) or on any machine of a shared queue (an advisory lock in its database)."""
    durable.make_dirs(StateDir(cfg.state_dir).landing)
    with FileLock(StateDir(cfg.state_dir).land_lock).attempt() as got:
        if not got:
            yield False
            return
        with queue.exclusive("lander") as everywhere:
            yield everywhere


def land_until_idle(cfg: Config, queue: QueueBackend, *, max_rounds: int | None = None,
                    on_round: Callable[[Round], None] | None = None,
                    on_check: Callable[[CheckResult], None] | None = None) -> list[Round]:
    """Rounds until landing/ is empty or a round changes nothing (it waits for the base's checkout,
    say: the next tick tries again). Raises StateError when another lander runs."""
    with lander_lock(cfg, queue) as got:
        if not got:
            raise StateError("another lander is running (the daemon's, or another 'land'); it lands what "
                             "is in landing/")
        lander = Lander(cfg, queue, on_check=on_check)
        rounds: list[Round] = []
        status = StateDir(cfg.state_dir).land_status  # for status: who lands, since when
        durable.write_json_atomic(status, {"pid": os.getpid(), "since": iso(utcnow())})
        try:
            _rounds(lander, queue, rounds, max_rounds, on_round)
        finally:
            status.unlink(missing_ok=True)
        return rounds


def paused(cfg: Config) -> str | None:
    """Why no round may start: the queue is paused (the PAUSE file `pause` writes), or None."""
    path = StateDir(cfg.state_dir).pause_file
    try:
        said = path.read_text(encoding="utf-8", errors="replace").strip()
    except FileNotFoundError:
        return None
    who = said.removeprefix("paused").strip() or f"by {path}"
    return f"{who}; the merge queue starts no round until 'resume'"


def _rounds(lander: Lander, queue: QueueBackend, rounds: list[Round], max_rounds: int | None,
            on_round: Callable[[Round], None] | None) -> None:
    while max_rounds is None or len(rounds) < max_rounds:
        why = paused(lander.cfg)  # looked at before each round: one checking when the pause came finishes
        if why is not None:
            # finishing a round a crash cut short after the base moved is no new round
            report = Round(landed=lander.recover(), paused=why, base=lander.repo.branch_commit(lander.cfg.base_branch))
            _log.info("land_paused", reason=why, waiting=queue.count(STATE))
            rounds.append(report)
            if on_round is not None:
                on_round(report)
            break
        report = lander.run_round()
        rounds.append(report)
        if report.progressed:
            poke(lander.cfg.state_dir)  # the tick picks up what went back and what waited for what landed
        if on_round is not None:
            on_round(report)
        if not queue.count(STATE) or not (report.progressed or report.deferred) or report.waiting:
            break
