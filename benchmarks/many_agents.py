"""Many agents, little overhead: 32 agents running at once (each sleeps 30 s, then commits).

    python benchmarks/many_agents.py [--agents 32] [--sleep 30]

Prints the daemon's CPU use while the agents sleep (% of one core, measured over the middle
of the sleep), the daemon's resident memory (and its fork server's), and each runner's resident
memory (RSS, which counts pages a forked runner shares with the fork server) and unique memory (USS).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
from common import ROOT, cores, make_config, make_repo

from orchestrator.formats.task import Task
from orchestrator.store.attempts import Runs
from orchestrator.store.queue import Queue

AGENT = textwrap.dedent("""
    import os, pathlib, time
    time.sleep(float(os.environ["SLEEP"]))
    pathlib.Path(os.environ["ORCH_TASK_ID"] + ".txt").write_text("done\\n")
""")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=32)
    parser.add_argument("--sleep", type=float, default=30.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="orch-many-"))
    agents = [{"name": f"a{n:02d}", "command": [sys.executable, str(root / "agent.py")],
               "env": {"SLEEP": str(args.sleep)}} for n in range(args.agents)]
    cfg = make_config(root, make_repo(root / "repo"), agent_script=AGENT, agents=agents, max_running=args.agents)
    queue = Queue(cfg.queue_dir, cfg.state_dir)
    queue.ensure_dirs()
    for n in range(args.agents):
        queue.enqueue(Task(id=f"t{n:02d}", title=f"task {n}"), actor="bench")
    daemon = subprocess.Popen([sys.executable, "-m", "orchestrator", "--config", str(cfg.path), "--daemon"],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = Runs(cfg.state_dir)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sum(1 for n in range(args.agents)
                                              if (a := runs.latest(f"t{n:02d}")) and a.agent_record()) < args.agents:
        time.sleep(0.2)
    time.sleep(2)  # let start-up settle
    proc = psutil.Process(daemon.pid)
    window = max(5.0, args.sleep - 10)
    before, t0 = proc.cpu_times(), time.monotonic()
    time.sleep(window)
    after, elapsed = proc.cpu_times(), time.monotonic() - t0
    cpu = (after.user + after.system - before.user - before.system) / elapsed * 100
    daemon_rss = proc.memory_info().rss
    helpers_rss = sum(c.memory_info().rss for c in proc.children() if "forkserver" in " ".join(c.cmdline()))
    runner_rss, runner_uss = [], []
    for n in range(args.agents):
        owner = runs.latest(f"t{n:02d}").owner() or {}
        try:
            memory = psutil.Process(owner["pid"]).memory_full_info()
        except (psutil.NoSuchProcess, KeyError):
            continue
        runner_rss.append(memory.rss)
        runner_uss.append(memory.uss)  # pages only this runner has (forked runners share the rest)
    while queue.count("claimed") and time.monotonic() < deadline + args.sleep + 60:
        time.sleep(0.5)
    daemon.terminate()
    daemon.wait(30)
    mb = 1024 * 1024
    print(json.dumps({
        "machine": cores(), "agents_running_at_once": args.agents, "measured_seconds": round(elapsed, 1),
        "daemon_cpu_percent_of_one_core": round(cpu, 2), "daemon_rss_mb": round(daemon_rss / mb, 1),
        "fork_server_rss_mb": round(helpers_rss / mb, 1),
        "runner_rss_mb": {"n": len(runner_rss), "median": round(statistics.median(runner_rss) / mb, 1),
                          "max": round(max(runner_rss) / mb, 1)},
        "runner_unique_mb": {"median": round(statistics.median(runner_uss) / mb, 1),
                             "max": round(max(runner_uss) / mb, 1)},
        "finished_in_provisional": queue.count("provisional"),
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
