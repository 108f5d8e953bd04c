"""Several machines, one queue (issue 18): three daemons on one box, each with its own clone and
state directory, sharing one PostgreSQL database and one bare remote.

Tasks are enqueued; whole machines (the daemon, its fork server, its runners and agents) are
killed with SIGKILL at random and started again, and database connections are cut at random.
At the end: no task lost, none run by two live agents at once (each agent holds an flock on its
task while it works and records a clash if it cannot get it), every task in provisional/done/failed,
and every task that succeeded has its branch, with its agent's commit, on the remote.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time

from orchestrator.formats.task import Task
from tests.machines import Machine, git, make_world
from tests.support import wait_until

TASKS = int(os.environ.get("ORCH_TEST_MACHINE_TASKS", "300"))


def busiest(machines: list[Machine], queue) -> Machine:
    """The machine holding the most claims now (waiting a moment for one that holds any)."""
    def held() -> dict[str, int]:
        return {m["machine"].split("/")[-1]: len(m["running"]) for m in queue.machines()}
    wait_until(lambda: any(held().values()), timeout=30, what="a machine with claims")
    counts = held()

    def claims_of(machine: Machine) -> int:
        path = machine.dir / "state" / "machine-id"  # a daemon still starting has none yet, and no claims
        return counts.get(path.read_text().strip(), 0) if path.exists() else 0
    return max(machines, key=claims_of)


def test_three_machines_share_one_queue_through_kills_and_lost_connections(tmp_path, pg_url):
    from orchestrator.store.pg.queue import PgQueue

    shared, remote = make_world(tmp_path)
    queue = PgQueue(pg_url)
    queue.ensure_ready()
    queue.enqueue_many([(Task(id=f"t{n:03d}", title=f"Task {n}", body=f"Do task {n}."), "incoming")
                        for n in range(TASKS)], actor="test")
    machines = [Machine(tmp_path, f"m{n}", remote, pg_url, shared) for n in range(3)]
    rng = random.Random(18)
    finished = ("provisional", "done", "failed")

    def settled() -> int:
        return sum(queue.count(state) for state in finished)

    try:
        for machine in machines:
            machine.start()
        kills = cuts = 0
        deadline = time.monotonic() + 240
        while settled() < TASKS and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.5, 2.0))
            if kills < 4 and settled() < TASKS * 0.8:
                victim = rng.choice(machines) if kills else busiest(machines, queue)  # the first has claims
                victim.kill()
                kills += 1
                # The first stays down past its leases: the others take over its tasks. The rest come back
                # at once and recover their own claims.
                time.sleep(7 if kills == 1 else rng.uniform(0.2, 1.0))
                victim.start()
            if cuts < 6:  # cut some of the database's client connections (not ours)
                with queue._txn() as conn:
                    conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                                 "current_database() AND pid <> pg_backend_pid() AND random() < 0.3")
                cuts += 1
        wait_until(lambda: settled() == TASKS, timeout=120, what="every task to settle after the kills")
    finally:
        for machine in machines:
            machine.stop()

    ids = [f"t{n:03d}" for n in range(TASKS)]
    states = queue.states_of(ids)
    assert sorted(states) == ids, "a task was lost"
    assert not [i for i, s in states.items() if s not in finished]
    clashes = (shared / "clashes.log").read_text().splitlines() if (shared / "clashes.log").exists() else []
    assert clashes == [], f"run by two live agents at once: {clashes[:5]}"
    on_remote = {line.split("refs/heads/")[1]: line.split()[0]
                 for line in git("ls-remote", str(remote), "refs/heads/agent/*", cwd=tmp_path).splitlines()}
    succeeded = [i for i, s in states.items() if s in ("provisional", "done")]
    missing = [i for i in succeeded if f"agent/{i}" not in on_remote]
    assert missing == [], f"branches not on the remote: {missing[:5]}"
    for task_id in rng.sample(succeeded, min(20, len(succeeded))):  # the agent's own commit is there
        assert f"{task_id}.txt" in git("ls-tree", "--name-only", on_remote[f"agent/{task_id}"], cwd=remote)
    events = list(queue.journal.read())
    expired = sum(1 for e in events if e["event"] == "lease_expired")
    claims = sum(1 for e in events if e["event"] == "claimed")
    for task_id in (i for i, s in states.items() if s == "failed"):  # allowed, but say why
        print(f"{task_id} failed: {queue.read(task_id)[1].last_error}")
    print(f"{TASKS} tasks: {len(succeeded)} succeeded, {TASKS - len(succeeded)} failed; {claims} claims, "
          f"{kills} machines killed, {cuts} connection cuts, {expired} leases expired and taken over")
    queue.close()
    assert kills and cuts and expired, "the kills did not exercise a takeover"


def test_status_on_any_machine_shows_every_machines_daemon_and_running_tasks(tmp_path, pg_url):
    from orchestrator.store.pg.queue import PgQueue

    shared, remote = make_world(tmp_path)
    a = Machine(tmp_path, "a", remote, pg_url, shared, sleep="20, 20")  # its agent works for a while
    b = Machine(tmp_path, "b", remote, pg_url, shared)
    queue = PgQueue(pg_url)
    queue.ensure_ready()
    try:
        a.start()
        queue.enqueue(Task(id="long", title="A long one"), actor="test")
        wait_until(lambda: any(e["event"] == "started" for e in queue.journal.read()), timeout=30,
                   what="machine a's runner to start")
        out = subprocess.run([sys.executable, "-m", "orchestrator", "--config", str(b.config), "status", "--json"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        status = json.loads(out.stdout)
        (machine,) = [m for m in status["machines"] if m["running"]]
        assert [r["task"] for r in machine["running"]] == ["long"] and machine["daemons"]
        assert status["running"] == []  # b runs nothing itself
        assert status["counts"]["claimed"] == 1
    finally:
        a.kill()
        queue.close()


def test_a_branch_made_on_one_machine_is_reviewed_and_landed_from_another(tmp_path, pg_url):
    from orchestrator.store.pg.queue import PgQueue

    shared, remote = make_world(tmp_path)
    a = Machine(tmp_path, "a", remote, pg_url, shared, merge="queue")
    b = Machine(tmp_path, "b", remote, pg_url, shared, merge="queue")
    queue = PgQueue(pg_url)
    queue.ensure_ready()
    try:
        a.start()  # only machine a runs agents
        queue.enqueue_many([(Task(id=i, title=f"Task {i}"), "incoming") for i in ("t1", "t2")], actor="test")
        wait_until(lambda: queue.count("provisional") == 2, timeout=60, what="both tasks done on machine a")
    finally:
        a.stop()
    shown = b.cli("diff", "t1", "--stat")  # b has never seen the branch: it fetches it
    assert shown.returncode == 0 and "t1.txt" in shown.stdout, shown.stderr
    assert b.cli("accept", "t1").returncode == 0  # to landing/ (merge: queue)
    landed = b.cli("land")
    assert landed.returncode == 0 and queue.locate("t1") == "done", landed.stdout + landed.stderr
    assert "t1.txt" in git("ls-tree", "--name-only", "main", cwd=remote)  # b pushed the landed base
    # Machine a lands the next one: it first catches up with what b landed, then lands on top.
    assert a.cli("accept", "t2").returncode == 0
    landed = a.cli("land")
    assert landed.returncode == 0 and queue.locate("t2") == "done", landed.stdout + landed.stderr
    files = git("ls-tree", "--name-only", "main", cwd=remote).split()
    assert {"t1.txt", "t2.txt"} <= set(files)
    history = git("log", "--format=%s", "main", cwd=remote)
    assert history.count("t1") >= 1 and history.count("t2") >= 1
    queue.close()
