"""Concurrent claims: 8 processes claiming from 10,000 ready tasks at once, on the file queue and
on PostgreSQL, side by side in one run (issue 18).

    python benchmarks/claims.py [--tasks 10000] [--procs 8] [--backend file|postgresql|both]

Each process lists incoming/ and claims the first task it can, exactly as the tick does
(per-task lock, attempt directory created, then the move: a rename, or the row's update under
FOR UPDATE SKIP LOCKED with a new fencing token and lease), until nothing is left. Prints double
claims (must be 0), claim passes that came back empty while ready tasks remained (0), and
the aggregate claims per second. PostgreSQL is a throwaway local server (tests/pgcluster.py,
fsync off as in the tests: the figure is the queue's cost, not the disk's).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from common import cores

from orchestrator.formats import task as taskfmt
from orchestrator.store.attempts import Runs
from orchestrator.store.queue import Queue

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import pgcluster


def open_queue(where: str, state_dir: str):
    if where.startswith("postgresql:"):
        from orchestrator.store.pg.queue import PgQueue

        return PgQueue(where)
    return Queue(Path(where), Path(state_dir))


def worker(args) -> tuple[list[str], int, int]:
    where, state_dir, start = args
    queue, runs = open_queue(where, state_dir), Runs(Path(state_dir))
    while time.time() < start:
        time.sleep(0.001)
    won, empty_handed, stale = [], 0, 0
    while True:
        got = claim_one(queue, runs)
        if got is None:
            if queue.count("incoming"):
                empty_handed += 1  # came back with nothing although tasks were ready
                continue
            return won, empty_handed, stale
        task_id, rereads = got
        won.append(task_id)
        stale += rereads


def claim_one(queue: Queue, runs: Runs) -> tuple[str, int] | None:
    """One claim attempt: the best task in priority order; if every task listed was taken by another
    process meanwhile, read the directory again. None only when incoming/ is empty."""
    rereads = 0
    while True:
        names = queue.ids("incoming")
        if not names:
            return None
        for name in names[:64]:  # the tick's candidates: the first of the listing
            if queue.claim(name, lambda t, fence: runs.new_attempt(t.id)):
                return name, rereads
        rereads += 1


def run(backend: str, tasks: int, procs: int, cluster) -> dict:
    root = Path(tempfile.mkdtemp(prefix="orch-claims-"))
    state_dir = root / "state"
    if backend == "postgresql":
        from orchestrator.store.pg.queue import PgQueue

        where = cluster.new_database()
        queue = PgQueue(where)
        queue.ensure_ready()
        queue.enqueue_many([(taskfmt.Task(id=f"t{n:06d}", title=f"task {n}"), "incoming") for n in range(tasks)],
                           actor="bench")
        queue.close()
    else:
        queue = Queue(root / "queue", state_dir)
        queue.ensure_dirs()
        for n in range(tasks):
            task = taskfmt.Task(id=f"t{n:06d}", title=f"task {n}")
            (queue.dir("incoming") / f"{task.id}.md").write_text(taskfmt.render(task))
        where = str(queue.root)
    start = time.time() + 1.0
    with multiprocessing.get_context("fork").Pool(procs) as pool:
        results = pool.map(worker, [(where, str(state_dir), start)] * procs)
    elapsed = time.time() - start
    claimed = Counter(t for won, _, _ in results for t in won)
    return {
        "backend": backend, "tasks": tasks, "processes": procs,
        "claimed": sum(claimed.values()), "claimed_twice": sum(1 for c in claimed.values() if c > 1),
        "never_claimed": tasks - len(claimed),
        "claim_attempts_empty_while_tasks_remained": sum(e for _, e, _ in results),
        "listings_reread_because_others_took_every_listed_task": sum(s for _, _, s in results),
        "claims_per_second": round(sum(claimed.values()) / elapsed),
        "per_process": [len(won) for won, _, _ in results],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10000)
    parser.add_argument("--procs", type=int, default=8)
    parser.add_argument("--backend", choices=["file", "postgresql", "both"], default="both")
    args = parser.parse_args()
    backends = ["file", "postgresql"] if args.backend == "both" else [args.backend]
    cluster = None
    if "postgresql" in backends:
        why = pgcluster.unavailable()
        if why:
            print(f"postgresql: skipped ({why})")
            backends.remove("postgresql")
        else:
            cluster = pgcluster.Cluster().start()
    try:
        results = [run(b, args.tasks, args.procs, cluster) for b in backends]
    finally:
        if cluster is not None:
            cluster.stop()
    print(json.dumps({"machine": cores(), "results": results}, indent=1))
    if len(results) == 2:
        file_rate, pg_rate = (r["claims_per_second"] for r in results)
        print(f"claims per second, {args.procs} claimers: file {file_rate}, postgresql {pg_rate} "
              f"(postgresql / file = {pg_rate / file_rate:.2f})")
    return 0 if all(r["claimed_twice"] == 0 and r["never_claimed"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
