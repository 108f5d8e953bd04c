"""Fault injection: thousands of SIGKILLs against ticks, runners and agents; nothing lost, nothing doubled.

    python benchmarks/fault_injection.py                   # 1,000 tasks, 1,000 kills (about 10 minutes)
    python benchmarks/fault_injection.py --tasks 100 --kills 100   # a quick look

Two drivers run `--once` ticks in a loop and a third keeps a daemon running (restarting it
when it is killed), so at least two tick processes run at once. A killer SIGKILLs a random
tick process, runner or agent every few hundred milliseconds. Each agent holds a flock on
its task while it runs: failing to get it means two live attempts of one task at once.
When the kills are done, the system is left to finish, and the script prints:
tasks lost, tasks in two places, tasks run by two live runners at once, leftover agent
processes, re-runs, and where every task ended.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator.formats import config as configmod  # noqa: E402
from orchestrator.formats.task import Task  # noqa: E402
from orchestrator.git.repo import Repo  # noqa: E402
from orchestrator.store.attempts import Runs  # noqa: E402
from orchestrator.store.queue import STATES, Queue  # noqa: E402

AGENT = textwrap.dedent('''
    import fcntl, os, pathlib, random, sys, time
    work = pathlib.Path(sys.argv[1])
    task = os.environ["ORCH_TASK_ID"]
    fd = os.open(work / "locks" / task, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        with open(work / "violations.log", "a") as fh:
            fh.write(task + " attempt " + os.environ["ORCH_ATTEMPT"] + "\\n")
    time.sleep(random.uniform(0.05, 0.8))
    pathlib.Path(task + ".txt").write_text("attempt " + os.environ["ORCH_ATTEMPT"])
    with open(work / "completions.log", "a") as fh:
        fh.write(task + "\\n")
    if random.random() < 0.05:
        sys.exit(1)
''')


def build(root: Path, tasks: int) -> configmod.Config:
    repo = root / "repo"
    repo.mkdir()
    (repo / "README.md").write_text("fault injection\n")
    Repo.create(repo)
    (root / "locks").mkdir()
    (root / "agent.py").write_text(AGENT)
    agent = lambda name: {"name": name, "command": [sys.executable, str(root / "agent.py"), str(root)],  # noqa: E731
                          "max_concurrent": 4, "timeout_seconds": 60}
    import yaml
    (root / "agents.yaml").write_text(yaml.safe_dump({
        "repo": "repo", "queue_dir": "queue", "state_dir": "state", "tick_seconds": 1, "max_running": 8,
        "max_attempts": 6, "retry_backoff_seconds": 0.05, "kill_grace_seconds": 0.2, "review": "human",
        "agents": [agent("chaos-1"), agent("chaos-2")]}))
    cfg = configmod.load(root / "agents.yaml")
    queue = Queue(cfg.queue_dir, cfg.state_dir)
    queue.ensure_dirs()
    for n in range(tasks):
        queue.enqueue(Task(id=f"f{n:05d}", title=f"fault task {n}", body="do it"), actor="bench")
    return cfg


class Drivers:
    """Tick processes: --once loops and a daemon that is restarted when killed."""

    def __init__(self, cfg: configmod.Config, once_loops: int = 2):
        self.cfg = cfg
        self.stop = threading.Event()
        self.ticks = 0
        self.threads = [threading.Thread(target=self._once_loop, daemon=True) for _ in range(once_loops)]
        self.threads.append(threading.Thread(target=self._daemon_loop, daemon=True))

    def _cmd(self, *mode: str) -> list[str]:
        return [sys.executable, "-m", "orchestrator", "--config", str(self.cfg.path), *mode]

    def _once_loop(self) -> None:
        while not self.stop.is_set():
            subprocess.run(self._cmd("--once"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
            self.ticks += 1
            time.sleep(0.2)

    def _daemon_loop(self) -> None:
        while not self.stop.is_set():
            proc = subprocess.Popen(self._cmd("--daemon"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    cwd=ROOT)
            while proc.poll() is None and not self.stop.is_set():
                time.sleep(0.1)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)


def victims(root: Path) -> dict[str, list[psutil.Process]]:
    found = collections.defaultdict(list)
    config = str(root / "agents.yaml")
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if str(root) not in cmd:
            continue
        if "orchestrator.runner" in cmd:
            found["runner"].append(p)
        elif config in cmd and ("--once" in cmd or "--daemon" in cmd):
            found["tick"].append(p)
        elif str(root / "agent.py") in cmd:
            found["agent"].append(p)
    return found


def kill_randomly(root: Path, kills: int, rng: random.Random) -> collections.Counter:
    done: collections.Counter = collections.Counter()
    while sum(done.values()) < kills:
        time.sleep(rng.uniform(0.05, 0.35))
        pool = victims(root)
        kinds = [k for k in ("tick", "runner", "agent") if pool[k]]
        if not kinds:
            continue
        kind = rng.choice(kinds)
        try:
            rng.choice(pool[kind]).send_signal(signal.SIGKILL)
            done[kind] += 1
        except psutil.NoSuchProcess:
            continue
    return done


def settled(queue: Queue) -> bool:
    return queue.count("incoming") == 0 and queue.count("claimed") == 0 and queue.count("blocked") == 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="orch-faults-"))
    cfg = build(root, args.tasks)
    queue = Queue(cfg.queue_dir, cfg.state_dir)
    print(f"cores: {os.cpu_count()}  tasks: {args.tasks}  kills planned: {args.kills}  dir: {root}")
    started = time.monotonic()
    drivers = Drivers(cfg)
    drivers.start()
    kills = kill_randomly(root, args.kills, rng)
    print(f"kills done after {time.monotonic() - started:.0f} s: {dict(kills)}; letting the queue finish")
    deadline = time.monotonic() + 3600
    while not settled(queue) and time.monotonic() < deadline:
        time.sleep(1)
    drivers.finish()
    time.sleep(1)
    report(root, cfg, queue, args.tasks, kills, time.monotonic() - started)
    return 0


def report(root: Path, cfg, queue: Queue, tasks: int, kills: collections.Counter, seconds: float) -> None:
    ids = {f"f{n:05d}" for n in range(tasks)}
    where = collections.defaultdict(list)
    for state in STATES:
        for entry in queue.names(state):
            where[entry.name[:-3]].append(state)
    lost = [i for i in ids if not where.get(i)]
    doubled = [i for i, states in where.items() if len(states) > 1]
    violations = (root / "violations.log").read_text().splitlines() if (root / "violations.log").exists() else []
    leftovers = [p for p in victims(root)["agent"] if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    runs = Runs(cfg.state_dir)
    attempts = {i: len(runs.attempts(i)) for i in ids}
    completions = collections.Counter((root / "completions.log").read_text().split()) \
        if (root / "completions.log").exists() else collections.Counter()
    final = collections.Counter(states[0] for states in where.values() if len(states) == 1)
    rerun_tasks = sum(1 for n in attempts.values() if n > 1)
    print(json.dumps({
        "cores": os.cpu_count(), "tasks": tasks, "seconds": round(seconds), "kills": dict(kills),
        "kills_total": sum(kills.values()),
        "tasks_lost": len(lost), "tasks_in_two_places": len(doubled),
        "tasks_run_by_two_live_runners_at_once": len(set(v.split()[0] for v in violations)),
        "leftover_agent_processes": len(leftovers),
        "attempts_total": sum(attempts.values()),
        "tasks_rerun": rerun_tasks, "rerun_rate": round(rerun_tasks / tasks, 3),
        "tasks_whose_agent_completed_more_than_once": sum(1 for c in completions.values() if c > 1),
        "final_states": dict(final),
        "all_in_done_provisional_or_failed": set(final) <= {"done", "provisional", "failed"} and not lost,
    }, indent=1))


if __name__ == "__main__":
    sys.exit(main())
