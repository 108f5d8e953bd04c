"""The queue's contract, on both backends: the file queue and PostgreSQL (issue 18).

Each test runs once per backend (parametrised, not copied); the PostgreSQL runs use a fresh
database of a throwaway server (tests/pgcluster.py) and skip, with the reason, where PostgreSQL
cannot run. What only the database has (fencing tokens, leases, LISTEN/NOTIFY, migrations) is
tested below the contract.
"""

from __future__ import annotations

import multiprocessing
import re
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from orchestrator.base.clock import utcnow
from orchestrator.base.errors import ConfigError, StateError
from orchestrator.formats.task import Task
from orchestrator.store.queue import Queue


def open_backend(kind: str, where: str, **options):
    if kind == "file":
        return Queue(Path(where) / "queue", Path(where) / "state")
    from orchestrator.store.pg.queue import PgQueue

    return PgQueue(where, **options)


@pytest.fixture(params=["file", "postgresql"])
def backend(request, tmp_path):
    """(kind, where): where is a directory for the file queue, a database URL for PostgreSQL."""
    where = str(tmp_path) if request.param == "file" else request.getfixturevalue("pg_url")
    return request.param, where


@pytest.fixture
def queue(backend):
    kind, where = backend
    q = open_backend(kind, where)
    if kind == "file":
        q.ensure_dirs()
    else:
        q.ensure_ready()
    yield q
    if kind != "file":
        q.close()


def events(queue, task_id):
    return [e["event"] for e in queue.journal.read() if e.get("task") == task_id]


def test_a_task_reads_back_as_written_in_exactly_one_state(queue):
    task = Task(id="t1", title="Make it fast: really", body="Details\n\nmore\n", priority="P1", role="docs",
                estimate="2h", created=utcnow().replace(microsecond=0))
    assert queue.enqueue(task, actor="test") == "incoming"
    state, back = queue.read("t1")
    assert (state, back) == ("incoming", task)
    assert queue.locate("t1") == "incoming" and queue.locate("nope") is None
    assert queue.ids("incoming") == ["t1"] and queue.count("incoming") == 1 and queue.count("claimed") == 0


def test_an_id_is_made_once_and_never_again_in_another_case(queue):
    queue.enqueue(Task(id="t1", title="One"), actor="test")
    with pytest.raises(StateError, match="already exists"):
        queue.enqueue(Task(id="t1", title="Again"), actor="test")
    with pytest.raises(StateError, match="only in case"):
        queue.check_case(["T1"])  # as flow/enqueue asks before it enqueues
    assert queue.read("t1")[1].title == "One"


def test_a_task_waits_in_blocked_until_its_dependency_is_done(queue):
    queue.enqueue(Task(id="a", title="A"), actor="test")
    assert queue.enqueue(Task(id="b", title="B", depends_on=("a",)), actor="test") == "blocked"
    with pytest.raises(StateError, match="waits for a"):
        queue.enqueue(Task(id="c", title="C", depends_on=("a",)), actor="test", state="incoming")
    queue.transition("a", "incoming", "done", actor="test", event="done")
    assert queue.enqueue(Task(id="d", title="D", depends_on=("a",)), actor="test") == "incoming"


def test_a_batch_is_all_or_nothing(queue):
    queue.enqueue(Task(id="x", title="X"), actor="test")
    with pytest.raises(StateError):
        queue.enqueue_many([(Task(id="n1", title="N1"), "incoming"), (Task(id="x", title="X again"), "incoming")],
                           actor="import")
    assert queue.locate("n1") is None  # refused as a whole
    made = queue.enqueue_many([(Task(id="m1", title="M1"), "incoming"),
                               (Task(id="m2", title="M2", depends_on=("m1",)), "blocked")], actor="import")
    assert made == ["m1", "m2"] and queue.locate("m2") == "blocked"


def test_a_claim_goes_to_one_claimer_and_prepare_runs_before_it(queue):
    queue.enqueue(Task(id="t1", title="One"), actor="test")
    prepared = []
    assert queue.claim("t1", lambda task, fence: prepared.append((task.id, queue.locate("t1"))))
    assert prepared == [("t1", "incoming")]  # the attempt is made before the task shows as claimed
    assert queue.claim("t1", lambda task, fence: pytest.fail("claimed twice")) is None
    assert queue.locate("t1") == "claimed"


def test_a_claim_whose_prepare_fails_claims_nothing(queue):
    queue.enqueue(Task(id="t1", title="One"), actor="test")

    def broken(task, fence):
        raise OSError("disk gone")

    with pytest.raises(OSError):
        queue.claim("t1", broken)
    assert queue.locate("t1") == "incoming"


def test_a_move_happens_only_from_its_source_and_repeats_to_the_same_result(queue):
    queue.enqueue(Task(id="t1", title="One"), actor="test")
    assert queue.transition("t1", "claimed", "failed", actor="test") is None  # not there: nothing happens
    updates = {"attempts": 2, "last_error": "boom"}
    moved = queue.transition("t1", "incoming", "failed", actor="test", event="failed", updates=updates)
    assert moved is not None and moved.attempts == 2
    assert queue.transition("t1", "incoming", "failed", actor="test", updates=updates) is None
    assert queue.read("t1") == ("failed", moved)
    assert events(queue, "t1") == ["enqueued", "failed"]


def test_before_move_runs_once_the_task_is_known_in_its_source_and_a_failure_moves_nothing(queue):
    queue.enqueue(Task(id="t1", title="One"), actor="test")

    def refuse(task):
        raise StateError("merge refused")

    with pytest.raises(StateError):
        queue.transition("t1", "incoming", "done", actor="test", before_move=refuse)
    assert queue.locate("t1") == "incoming"
    queue.transition("t1", "incoming", "done", actor="test", event="accepted", before_move=lambda t: {"merged": "abc"})
    accepted = [e for e in queue.journal.read() if e["event"] == "accepted"]
    assert accepted[0]["merged"] == "abc" and accepted[0]["from"] == "incoming" and accepted[0]["to"] == "done"


def test_revise_rewrites_only_a_waiting_task(queue):
    queue.enqueue(Task(id="a", title="A"), actor="test")
    queue.enqueue(Task(id="t1", title="Old"), actor="test")
    revised = queue.revise("t1", "incoming", {"title": "New", "depends_on": ("a",)}, actor="import")
    assert revised is not None and queue.read("t1") == ("blocked", revised) and revised.title == "New"
    with pytest.raises(StateError):
        queue.revise("t1", "claimed", {"title": "x"}, actor="import")
    with pytest.raises(StateError):
        queue.revise("t1", "blocked", {"attempts": 3}, actor="import")


def test_a_task_lock_held_elsewhere_makes_a_claim_come_back_empty(queue, backend):
    queue.enqueue(Task(id="t1", title="One"), actor="test")
    other = open_backend(*backend)
    holding, release = threading.Event(), threading.Event()

    def hold():
        with other.task_lock("t1"):
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(30)
        assert queue.claim("t1", lambda task, fence: None) is None
    finally:
        release.set()
        holder.join(30)
    assert queue.claim("t1", lambda task, fence: None) is not None
    if hasattr(other, "close"):
        other.close()


def _claim_everything(args):
    kind, where = args
    queue = open_backend(kind, where)
    won = []
    while True:
        ids = queue.ids("incoming")
        if not ids:
            return won
        for task_id in ids:
            if queue.claim(task_id, lambda task, fence: None):
                won.append(task_id)
                break


def test_eight_processes_claim_every_task_exactly_once(queue, backend):
    ids = [f"t{n:03d}" for n in range(200)]
    queue.enqueue_many([(Task(id=i, title=i), "incoming") for i in ids], actor="test")
    with multiprocessing.get_context("spawn").Pool(8) as pool:
        results = pool.map(_claim_everything, [backend] * 8)
    claimed = [task_id for won in results for task_id in won]
    assert sorted(claimed) == ids  # every task once: none twice, none left
    assert queue.count("claimed") == 200 and queue.count("incoming") == 0


# ---- what only PostgreSQL has ---------------------------------------------------


@pytest.fixture
def pg(pg_url):
    from orchestrator.store.pg.queue import PgQueue

    q = PgQueue(pg_url, lease_seconds=30)
    q.ensure_ready()
    yield q
    q.close()


def test_a_late_result_from_a_claim_that_was_taken_over_is_refused(pg):
    pg.enqueue(Task(id="t1", title="One"), actor="test")
    fences = []
    pg.claim("t1", lambda task, fence: fences.append(fence))
    # Its machine went quiet: the lease ran out and another runner claimed the task.
    assert pg.expire_leases(now=utcnow() + timedelta(seconds=31)) == ["t1"]
    pg.claim("t1", lambda task, fence: fences.append(fence))
    assert fences[1] > fences[0]
    assert not pg.heartbeat("t1", fences[0])  # the old runner learns it lost the claim
    assert pg.transition("t1", "claimed", "provisional", actor="runner", fence=fences[0]) is None
    assert pg.locate("t1") == "claimed"
    assert "stale_result_refused" in events(pg, "t1")
    assert pg.transition("t1", "claimed", "provisional", actor="runner", fence=fences[1]) is not None


def test_a_heartbeat_keeps_a_lease_and_a_lease_carries_host_and_pid(pg):
    pg.enqueue(Task(id="t1", title="One"), actor="test")
    fences = []
    pg.claim("t1", lambda task, fence: fences.append(fence), pid=4242)
    lease = pg.lease("t1")
    assert lease["host"] == pg.host and lease["pid"] == 4242 and lease["fence"] == fences[0]
    assert pg.heartbeat("t1", fences[0], pid=4343) and pg.lease("t1")["pid"] == 4343
    assert pg.expire_leases() == []  # within its lease: nobody takes it


def test_a_task_entering_incoming_is_notified(pg):
    woken, stop = threading.Event(), threading.Event()
    watcher = threading.Thread(target=pg.watch, args=(woken.set, stop), kwargs={"check_seconds": 0.2}, daemon=True)
    watcher.start()
    try:
        for _ in range(50):  # LISTEN is on once a notification sent after it arrives
            pg.enqueue(Task(id=f"t{_}", title="One"), actor="test")
            if woken.wait(0.5):
                break
        assert woken.is_set()
    finally:
        stop.set()
        watcher.join(10)


def test_migrations_apply_once_and_a_newer_schema_is_refused(pg_url):
    import psycopg

    from orchestrator.store.pg import connect as pgconnect

    with psycopg.connect(pg_url) as conn:
        names = [m.name for m in pgconnect.migrations()]
        assert names[:3] == ["0001_queue.sql", "0002_daemons.sql", "0003_event_xids.sql"]  # in order
        with pytest.raises(ConfigError, match="lacks migrations " + re.escape(", ".join(names))):
            pgconnect.check_schema(conn)
        assert pgconnect.migrate(conn) == names
        assert pgconnect.migrate(conn) == []
        pgconnect.check_schema(conn)
        with conn.transaction():
            conn.execute("INSERT INTO orchestrator_schema (version, name) VALUES (9999, '9999_future.sql')")
        with pytest.raises(ConfigError, match="schema version 9999, newer"):
            pgconnect.migrate(conn)


def test_the_password_never_shows(pg_url):
    from orchestrator.store.pg.connect import connect, shown

    assert shown("postgresql://ann:s3cret@db.example:5432/q") == "postgresql://ann:***@db.example:5432/q"
    with pytest.raises(ConfigError) as refused:
        connect("postgresql://ann:s3cret@/nosuchdb?host=/nonexistent", timeout=2)
    assert "s3cret" not in str(refused.value) and "***" in str(refused.value)


def test_every_machine_shows_with_its_daemons_and_running_tasks(pg, pg_url):
    from orchestrator.store.pg.queue import PgQueue

    other = PgQueue(pg_url, host="box-2/abcd1234")
    try:
        pg.enqueue(Task(id="t1", title="One"), actor="test")
        pg.enqueue(Task(id="t2", title="Two"), actor="test")
        pg.note_daemon(111, 1_700_000_000.0)
        other.note_daemon(222, 1_700_000_000.0)
        other.claim("t2", lambda task, fence: None, pid=333)
        machines = {m["machine"]: m for m in pg.machines()}
        assert set(machines) == {pg.host, "box-2/abcd1234"}
        assert [d["pid"] for d in machines[pg.host]["daemons"]] == [111] and machines[pg.host]["running"] == []
        assert [r["task"] for r in machines["box-2/abcd1234"]["running"]] == ["t2"]
        assert pg.claimed_here() == [] and other.claimed_here() == ["t2"]
    finally:
        other.close()


def test_one_lander_across_machines(pg, pg_url):
    from orchestrator.store.pg.queue import PgQueue

    other = PgQueue(pg_url, host="box-2/abcd1234")
    try:
        with pg.exclusive("lander") as mine:
            assert mine
            with other.exclusive("lander") as theirs:
                assert not theirs
        with other.exclusive("lander") as theirs:
            assert theirs  # let go when the first one was done
    finally:
        other.close()


def test_a_lease_is_expired_only_on_its_locked_row_and_the_attempt_counts(pg, pg_url):
    import psycopg

    pg.enqueue(Task(id="t1", title="One", max_attempts=2), actor="test")
    pg.claim("t1", lambda task, fence: None)
    later = utcnow() + timedelta(seconds=31)
    with psycopg.connect(pg_url) as busy:  # its runner is renewing the lease right now: the row is locked
        busy.execute("SELECT 1 FROM orchestrator_tasks WHERE id = 't1' FOR UPDATE")
        assert pg.expire_leases(now=later) == []
    assert pg.expire_leases(now=later) == ["t1"]
    state, task = pg.read("t1")
    assert state == "incoming" and task.attempts == 1 and "lease" in (task.last_error or "")
    pg.claim("t1", lambda task, fence: None)
    assert pg.expire_leases(now=utcnow() + timedelta(seconds=31)) == ["t1"]
    assert pg.locate("t1") == "failed"  # its second attempt, of two, ended the same way


def test_every_move_of_a_runner_carries_its_claims_fence(pg, pg_url):
    from orchestrator.store.pg.queue import PgQueue

    pg.enqueue(Task(id="t1", title="One"), actor="test")
    fences = []
    pg.claim("t1", lambda task, fence: fences.append(fence))
    stale = PgQueue(pg_url)  # the first runner's process
    stale.bind_claim("t1", fences[0])
    try:
        pg.expire_leases(now=utcnow() + timedelta(seconds=31))
        pg.claim("t1", lambda task, fence: fences.append(fence))  # another runner now
        # The stale runner rejects, accepts or settles: whatever the move, it names no fence itself.
        assert stale.transition("t1", "claimed", "incoming", actor="runner", event="rejected") is None
        assert stale.transition("t1", "claimed", "done", actor="runner", event="accepted") is None
        assert pg.locate("t1") == "claimed" and pg.holds_claim("t1", fences[1])
    finally:
        stale.close()


def test_the_notifier_gets_every_event_once_also_one_that_committed_late(pg, pg_url):
    import psycopg

    from orchestrator.store.pg.journal import INSERT, record_of, row_of

    _, cursor = pg.journal.read_new(None)  # from now on
    slow = psycopg.connect(pg_url)  # a long import: its event is written first and committed last
    slow.execute(INSERT, row_of(record_of("slow_one", task=None, actor="import", now=None, fields={})))
    pg.journal.append("quick_one", actor="test")
    first, cursor = pg.journal.read_new(cursor)
    slow.commit()
    slow.close()
    pg.journal.append("after", actor="test")
    second, cursor = pg.journal.read_new(cursor)
    third, cursor = pg.journal.read_new(cursor)
    seen = [e["event"] for e in first + second + third]
    assert sorted(seen) == ["after", "quick_one", "slow_one"]  # each once, the late one not skipped
