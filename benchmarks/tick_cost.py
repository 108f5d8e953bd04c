"""Tick cost against history: 50 % of the files in done/, 40 % in incoming/ that no agent can take,
10 % in blocked/, nothing to dispatch.

    python benchmarks/tick_cost.py                  # 1k, 10k and 50k files (about 3 minutes)
    python benchmarks/tick_cost.py --sizes 10000

For each size it prints the p50/p95 of a daemon tick (Scheduler.loop in a warm process), of a fresh
`--once` process (the tick alone, and the tick plus our imports; the bare interpreter's start-up,
measured with `python -c pass`, is not counted), and of a reference tick that reads and parses
every task file, as a tick without an index would, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, cores, make_config, make_repo

from orchestrator.base import log
from orchestrator.base.clock import utcnow
from orchestrator.formats import task as taskfmt
from orchestrator.store.queue import Queue
from orchestrator.store.records import STATES
from orchestrator.tick.scheduler import Scheduler

ONCE = """
import sys, time
t0 = time.perf_counter()
sys.path.insert(0, {root!r})
from orchestrator.cli.main import main
t1 = time.perf_counter()
main(["--config", {config!r}, "--once"])
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def populate(queue: Queue, n: int) -> None:
    now = utcnow()
    for i in range(n):
        share = i % 10
        state = "done" if share < 5 else "incoming" if share < 9 else "blocked"
        task = taskfmt.Task(id=f"t{i:06d}", title=f"task {i}", body="body " * 20, created=now,
                            role="nobody-takes-this", depends_on=(f"t{i - 1:06d}",) if state == "blocked" else ())
        (queue.dir(state) / f"{task.id}.md").write_text(taskfmt.render(task))


def reference_tick(queue: Queue) -> None:
    """What a tick costs without an index: every file in every state read and parsed."""
    for state in STATES:
        for dirent in queue.names(state):
            queue.read_file(Path(dirent.path))


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def ms(value: float) -> float:
    return round(value * 1000, 1)


def measure(n: int, runs: int) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"orch-tick-{n}-"))
    cfg = make_config(root, make_repo(root / "repo"))
    log.configure(cfg.state_dir / "logs" / "orchestrator.jsonl", to_terminal=False)
    queue = Queue(cfg.queue_dir, cfg.state_dir)
    queue.ensure_dirs()
    populate(queue, n)
    scheduler = Scheduler(cfg, persist_index=False)
    cold = time.perf_counter()
    scheduler.tick()
    cold = time.perf_counter() - cold
    daemon = []
    for _ in range(runs):
        t = time.perf_counter()
        report = scheduler.tick()
        daemon.append(time.perf_counter() - t)
        assert not report.started and not report.broken
    bare = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - t)
    once_tick, once_total = [], []
    script = ONCE.format(root=str(ROOT), config=str(cfg.path))
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)  # builds the persisted index
    for _ in range(max(5, runs // 3)):
        out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
        imports, tick = map(float, out.stdout.split()[-2:])
        once_tick.append(tick)
        once_total.append(imports + tick)
    reference = []
    for _ in range(3 if n <= 10000 else 1):
        t = time.perf_counter()
        reference_tick(queue)
        reference.append(time.perf_counter() - t)
    ref = statistics.median(reference)
    return {
        "files": n, "daemon_tick_ms": {"p50": ms(statistics.median(daemon)), "p95": ms(pct(daemon, 0.95)),
                                       "first_tick_building_the_index": ms(cold)},
        "once_tick_ms": {"p50": ms(statistics.median(once_tick)), "p95": ms(pct(once_tick, 0.95))},
        "once_imports_plus_tick_ms": {"p50": ms(statistics.median(once_total)), "p95": ms(pct(once_total, 0.95))},
        "bare_interpreter_ms": ms(statistics.median(bare)),
        "reference_tick_ms": ms(ref),
        "reference_over_daemon_p95": round(ref / pct(daemon, 0.95), 1),
        "reference_over_once_p95": round(ref / pct(once_tick, 0.95), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    print(json.dumps({"machine": cores(), "results": [measure(n, args.runs) for n in args.sizes]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
