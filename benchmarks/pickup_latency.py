"""Enqueue-to-start latency: the daemon (tick_seconds 60, woken by events) next to a plain 60 s polling loop.

    python benchmarks/pickup_latency.py                 # 200 tasks over 5 minutes (about 6 minutes)
    python benchmarks/pickup_latency.py --tasks 40 --window 60

Both setups get the same tasks at the same random moments, side by side in one run. Latency is
from the enqueue event to the runner's "started" event (the agent is being started) in each
setup's journal. The agent commits one file and exits; capacity is ample, so what is measured
is pickup, not queueing.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, cores, make_config, make_repo

from orchestrator.base.clock import parse_iso
from orchestrator.formats.task import Task
from orchestrator.store.queue import Queue

POLLING_LOOP = """
import sys, time
sys.path.insert(0, {root!r})
from orchestrator.formats import config
from orchestrator.base import log
from orchestrator.tick.scheduler import Scheduler
cfg = config.load({config!r})
log.configure(cfg.state_dir / "logs" / "orchestrator.jsonl", to_terminal=False)
scheduler = Scheduler(cfg, persist_index=False)
while True:
    scheduler.tick()
    time.sleep(60)
"""


def latencies(state_dir: Path) -> list[float]:
    enqueued, started = {}, {}
    for line in (state_dir / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "enqueued":
            enqueued[event["task"]] = parse_iso(event["ts"])
        elif event["event"] == "started" and event["task"] not in started:
            started[event["task"]] = parse_iso(event["ts"])
    return sorted((started[t] - enqueued[t]).total_seconds() for t in started if t in enqueued)


def summary(values: list[float]) -> dict:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
    return {"n": len(values), "p50": round(statistics.median(values), 3), "p95": round(p95, 3),
            "max": round(values[-1], 3)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--window", type=float, default=300.0, help="seconds over which tasks arrive")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="orch-pickup-"))
    setups = {}
    for name in ("daemon", "polling"):
        root = base / name
        root.mkdir()
        # Capacity for every task that can arrive between two 60 s ticks: pickup is measured, not queueing.
        cfg = make_config(root, make_repo(root / "repo"), max_running=100, max_concurrent=100)
        setups[name] = cfg
    procs = [
        subprocess.Popen([sys.executable, "-m", "orchestrator", "--config", str(setups["daemon"].path), "--daemon"],
                         cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, "-c", POLLING_LOOP.format(root=str(ROOT), config=str(setups["polling"].path))],
                         cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    time.sleep(2)
    rng = random.Random(7)
    moments = sorted(rng.uniform(0, args.window) for _ in range(args.tasks))
    start = time.monotonic()
    queues = {name: Queue(cfg.queue_dir, cfg.state_dir) for name, cfg in setups.items()}
    for n, at in enumerate(moments):
        time.sleep(max(0.0, at - (time.monotonic() - start)))
        for queue in queues.values():
            queue.enqueue(Task(id=f"t{n:04d}", title=f"task {n}"), actor="bench")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if all(len(latencies(cfg.state_dir)) == args.tasks for cfg in setups.values()):
            break
        time.sleep(1)
    for proc in procs:
        proc.terminate()
        proc.wait(30)
    result = {"machine": cores(), "tasks": args.tasks, "window_seconds": args.window, "tick_seconds": 60}
    for name, cfg in setups.items():
        result[name] = summary(latencies(cfg.state_dir))
    result["p50_ratio_polling_over_daemon"] = round(result["polling"]["p50"] / max(result["daemon"]["p50"], 1e-6), 1)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
