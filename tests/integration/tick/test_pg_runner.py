"""A runner on the PostgreSQL queue whose database connections are cut while its agent works keeps the
agent running, connects again, renews its lease and settles the task (issue 18)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import psycopg
import pytest

from tests.support import wait_until


@pytest.fixture
def env(env, pg_url):
    env.queue_url = pg_url
    return env


def test_a_runner_that_loses_the_database_keeps_its_agent_and_settles(env, pg_url):
    env.write_config([env.agent("impl-1", "slow.py", env={"SLEEP": "8"})], lease_seconds=5)
    env.enqueue("t1")
    done = threading.Event()
    drainer = threading.Thread(target=lambda: (env.drain(timeout=90), done.set()), daemon=True)
    drainer.start()
    wait_until(lambda: any(e["event"] == "started" for e in env.events("t1")), timeout=30, what="the agent to start")
    cut = 0
    deadline = time.monotonic() + 6  # while the agent sleeps: every connection but ours, again and again
    while time.monotonic() < deadline:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            cut += len(conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                                    "current_database() AND pid <> pg_backend_pid()").fetchall())
        time.sleep(0.5)
    drainer.join(90)
    assert done.is_set(), "the drain did not finish"
    assert cut > 0
    assert env.state_of("t1") == "provisional", [e["event"] for e in env.events("t1")]
    events = [e["event"] for e in env.events("t1")]
    assert events.count("claimed") == 1 and "lease_expired" not in events  # the same claim all along


def test_a_runner_whose_claim_was_taken_over_stops_its_agent_and_moves_nothing(env, pg_url):
    from orchestrator.base.clock import utcnow
    from orchestrator.store.pg.queue import PgQueue
    from tests.support import processes_with

    env.write_config([env.agent("impl-1", "slow.py", env={"SLEEP": "60"})], lease_seconds=5)
    agent = str(env.agents_dir / "slow.py")
    env.enqueue("t1")
    drained = threading.Event()
    drainer = threading.Thread(target=lambda: (env.drain(timeout=60), drained.set()), daemon=True)
    drainer.start()
    wait_until(lambda: any(e["event"] == "started" for e in env.events("t1")), timeout=30, what="the agent to start")
    wait_until(lambda: processes_with(agent), timeout=10, what="the agent's process")
    # Another machine decides this one is dead (as if its lease had run out) and claims the task.
    other = PgQueue(pg_url, host="other-box/0000")
    try:
        assert other.expire_leases(now=utcnow() + timedelta(seconds=60)) == ["t1"]
        assert other.claim("t1", lambda task, fence: None) is not None
        wait_until(lambda: not processes_with(agent), timeout=15, what="the old agent to be stopped")
        drainer.join(60)
        assert drained.is_set()
        assert other.lease("t1")["host"] == "other-box/0000"  # the new claim is untouched
        assert "stale_result_refused" in [e["event"] for e in env.events("t1")]
    finally:
        other.close()
