"""Concurrent claims: 8 processes claiming from 10,000 ready tasks at once.

    python benchmarks/claims.py [--tasks 10000] [--procs 8]

Each process lists incoming/ and claims the first task it can, exactly as the tick does
(per-task lock, attempt directory created, rename), until nothing is left. Prints double
claims (must be 0), claim passes that came back empty while ready tasks remained (0), and
the aggregate claims per second.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from common import cores

from orchestrator.formats import task as taskfmt
from orchestrator.store.attempts import Runs
from orchestrator.store.queue import Queue


def worker(args) -> tuple[list[str], int, int]:
    queue_dir, state_dir, start = args
    queue, runs = Queue(Path(queue_dir), Path(state_dir)), Runs(Path(state_dir))
    while time.time() < start:
        time.sleep(0.001)
    won, empty_handed, stale = [], 0, 0
    while True:
        got = claim_one(queue, runs)
        if got is None:
            if os.listdir(queue.dir("incoming")):
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
        names = sorted(os.listdir(queue.dir("incoming")))
        if not names:
            return None
        for name in names:
            if queue.claim(name[:-3], lambda t, fence: runs.new_attempt(t.id)):
                return name[:-3], rereads
        rereads += 1


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10000)
    parser.add_argument("--procs", type=int, default=8)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="orch-claims-"))
    queue = Queue(root / "queue", root / "state")
    queue.ensure_dirs()
    for n in range(args.tasks):
        task = taskfmt.Task(id=f"t{n:06d}", title=f"task {n}")
        (queue.dir("incoming") / f"{task.id}.md").write_text(taskfmt.render(task))
    start = time.time() + 1.0
    with multiprocessing.get_context("fork").Pool(args.procs) as pool:
        results = pool.map(worker, [(str(queue.root), str(queue.state_dir), start)] * args.procs)
    elapsed = time.time() - start
    claimed = Counter(t for won, _, _ in results for t in won)
    print(json.dumps({
        "machine": cores(), "tasks": args.tasks, "processes": args.procs,
        "claimed": sum(claimed.values()), "claimed_twice": sum(1 for c in claimed.values() if c > 1),
        "never_claimed": args.tasks - len(claimed),
        "claim_attempts_empty_while_tasks_remained": sum(e for _, e, _ in results),
        "listings_reread_because_others_took_every_listed_task": sum(s for _, _, s in results),
        "claims_per_second": round(sum(claimed.values()) / elapsed),
        "per_process": [len(won) for won, _, _ in results],
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
