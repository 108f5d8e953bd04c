"""The tick's rules, driven as `tick(now)` against real queue directories, with a launcher that
records instead of starting runners. A test plays the runner: it takes ownership of the attempt
and writes its result, as the real runner does, then ticks again with an explicit time."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.store.attempts import Attempt, Result, Runs
from orchestrator.tick.launcher import RecordingLauncher
from orchestrator.tick.scheduler import Scheduler

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(env):
    """env with a recording scheduler; `world.tick(seconds)` ticks at T0 + seconds."""
    class World:
        launcher = RecordingLauncher()

        def configure(self, agents, **settings):
            env.write_config(agents, **settings)
            self.scheduler = Scheduler(env.config, launcher=self.launcher)
            self.runs = Runs(env.config.state_dir)

        def tick(self, seconds: float = 0):
            return self.scheduler.tick(T0 + timedelta(seconds=seconds))

        def finish(self, task_id: str, outcome: str = "success", *, at: float = 0, **fields) -> Attempt:
            """Play the runner of the task's latest attempt: own it, then write its result."""
            attempt = self.runs.latest(task_id)
            assert attempt is not None, f"{task_id} has no attempt"
            dead_pid = 2 ** 22 + 12345  # above pid_max's default: no such process
            assert attempt.take_ownership({"pid": dead_pid, "create_time": 0.0, "host": os.uname().nodename})
            when = (T0 + timedelta(seconds=at)).isoformat()
            attempt.write_result(Result(outcome=outcome, reason=fields.pop("reason", outcome),
                                        finished_at=when, **fields))
            return attempt

    w = World()
    yield w
    w.scheduler.close()


def test_each_agent_gets_at_most_its_share_and_the_highest_priority_first(env, world):
    world.configure([env.agent("a", max_concurrent=2), env.agent("b")], max_running=3)
    for task_id, priority in [("low", "P3"), ("urgent", "P0"), ("mid", "P2"), ("high", "P1")]:
        env.enqueue(task_id, priority=priority)
    report = world.tick()
    assert sorted(agent for _, agent in report.started) == ["a", "a", "b"]
    assert {task for task, _ in report.started} == {"urgent", "high", "mid"}
    assert env.state_of("low") == "incoming" and len(world.launcher.launched) == 3
    assert world.tick(1).started == [], "every slot is taken until a runner finishes"


def test_a_task_goes_only_to_an_agent_of_its_role_or_the_one_it_names(env, world):
    world.configure([env.agent("coder"), env.agent("writer", role="docs")])
    env.enqueue("t-docs", role="docs")
    env.enqueue("t-pinned", agent="coder", role="docs")
    started = dict(world.tick().started)
    assert started == {"t-docs": "writer", "t-pinned": "coder"}


def test_a_finished_attempt_settles_on_the_next_tick(env, world):
    world.configure([env.agent("a")])
    env.enqueue("t1")
    world.tick()
    assert env.state_of("t1") == "claimed"
    world.finish("t1", commits=1)
    world.tick(5)
    assert env.state_of("t1") == "provisional"


def test_a_failure_waits_out_its_backoff_then_fails_for_good_after_the_last_attempt(env, world):
    world.configure([env.agent("a")], max_attempts=2, retry_backoff_seconds=100)
    env.enqueue("t1")
    world.tick()
    world.finish("t1", "failed", reason="exit code 3", exit_code=3)
    world.tick(1)
    task = env.read("t1")
    assert env.state_of("t1") == "incoming" and task.attempts == 1 and task.last_error
    assert task.retry_after is not None and task.retry_after > T0 + timedelta(seconds=1)
    assert world.tick(2).started == [], "not before its backoff is over"
    wait = (task.retry_after - T0).total_seconds()
    assert world.tick(wait + 1).started == [("t1", "a")]
    world.finish("t1", "failed", reason="exit code 3", exit_code=3, at=wait + 2)
    world.tick(wait + 3)
    assert env.state_of("t1") == "failed"


def test_a_usage_limit_spends_no_attempt_and_rests_the_agent(env, world):
    world.configure([env.agent("a")], max_attempts=1)
    env.enqueue("t1")
    world.tick()
    resume = (T0 + timedelta(hours=1)).isoformat()
    world.finish("t1", "usage_limit", reason="usage limit reached", counts=False, resume_at=resume)
    world.tick(1)
    assert env.state_of("t1") == "incoming" and env.read("t1").attempts == 0
    assert world.tick(60).started == [], "the agent rests until its limit resets"
    assert world.tick(3601).started == [("t1", "a")]


def test_a_dependency_is_released_when_what_it_waits_for_is_done(env, world):
    world.configure([env.agent("a")], review="none")
    env.enqueue("schema")
    env.enqueue("api", depends_on=("schema",))
    assert env.state_of("api") == "blocked"
    assert world.tick().started == [("schema", "a")]
    world.finish("schema", commits=1)
    report = world.tick(1)
    assert env.state_of("schema") == "done"
    # Released and dispatched in the same tick: no second pass needed.
    assert "api" in report.released or env.state_of("api") != "blocked"
    assert env.state_of("api") in ("incoming", "claimed")


def test_an_attempt_whose_runner_never_appeared_is_recovered_after_the_grace_period(env, world):
    world.configure([env.agent("a")], max_attempts=3)
    env.enqueue("t1")
    world.tick()
    assert env.state_of("t1") == "claimed"
    assert "t1" in world.tick(1).running, "within the grace period the runner may still start"
    grace = world.scheduler.ownerless_grace
    world.tick(grace + 5)
    assert env.state_of("t1") in ("incoming", "claimed"), "requeued, or already dispatched again"
    assert world.runs.attempts("t1")[0].result() is not None, "the lost attempt has a recorded end"
    assert len(world.launcher.launched) <= 2


def test_a_paused_agent_is_given_nothing(env, world):
    world.configure([env.agent("a", paused=True), env.agent("b")])
    env.enqueue("t1")
    assert world.tick().started == [("t1", "b")]


def test_a_retry_further_off_than_any_backoff_is_due_the_clock_was_set_back(env, world):
    world.configure([env.agent("a")], max_attempts=3, retry_backoff_seconds=100)
    env.enqueue("t1")
    world.tick()
    world.finish("t1", "failed", reason="exit code 3", exit_code=3)
    world.tick(1)
    assert env.read("t1").retry_after > T0
    # The wall clock steps back an hour: the retry now looks an hour and more away, further than
    # any backoff could be, so it is due rather than stalled for the hour.
    assert world.tick(-3600).started == [("t1", "a")]


def test_drain_says_at_once_when_all_that_is_left_retries_after_its_timeout(env, world):
    from orchestrator.base.clock import utcnow
    from orchestrator.tick.drain import ONLY_LATER, drain_report
    world.configure([env.agent("a")])
    env.enqueue("t1", retry_after=utcnow() + timedelta(seconds=200))
    done = drain_report(world.scheduler, timeout=30, poll=0.01)
    assert (done.code, done.waiting_task) == (ONLY_LATER, "t1"), "not TIMED_OUT after waiting 30 s"
    assert env.state_of("t1") == "incoming" and world.launcher.launched == []
