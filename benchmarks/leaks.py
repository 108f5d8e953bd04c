"""No leaks: 1,000 tasks through one daemon; its open file descriptors, child processes and
resident memory before (after a warm-up of 50 tasks) and after, side by side.

    python benchmarks/leaks.py [--tasks 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from common import ROOT, cores, make_config, make_repo

from orchestrator.formats.task import Task
from orchestrator.store.queue import Queue


def sample(proc: psutil.Process) -> dict:
    return {"open_fds": proc.num_fds(), "children": len(proc.children(recursive=True)),
            "threads": proc.num_threads(), "rss_mb": round(proc.memory_info().rss / 1024 / 1024, 1)}


def run_batch(queue: Queue, start: int, count: int, timeout: float) -> None:
    for n in range(start, start + count):
        queue.enqueue(Task(id=f"t{n:05d}", title=f"task {n}"), actor="bench")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if queue.count("provisional") + queue.count("failed") >= start + count:
            return
        time.sleep(0.5)
    raise SystemExit(f"tasks did not finish within {timeout} s")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="orch-leaks-"))
    cfg = make_config(root, make_repo(root / "repo"), max_running=8, max_concurrent=8)
    queue = Queue(cfg.queue_dir, cfg.state_dir)
    queue.ensure_dirs()
    daemon = subprocess.Popen([sys.executable, "-m", "orchestrator", "--config", str(cfg.path), "--daemon"],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = psutil.Process(daemon.pid)
    time.sleep(2)
    warm = 50
    run_batch(queue, 0, warm, 600)
    time.sleep(2)
    before = sample(proc)
    started = time.monotonic()
    run_batch(queue, warm, args.tasks, 3600)
    time.sleep(2)
    after = sample(proc)
    seconds = time.monotonic() - started
    daemon.terminate()
    daemon.wait(30)
    print(json.dumps({"machine": cores(), "tasks": args.tasks, "seconds": round(seconds),
                      "before": before, "after": after,
                      "provisional": queue.count("provisional"), "failed": queue.count("failed")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
