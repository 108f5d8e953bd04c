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

With --people (the default) a person works alongside: `accept --merge`, `reject`, `cancel`,
`retry` and `import` on random tasks, each SIGKILLed at a random moment one time in three,
and `git stash -u` / `git stash pop`, `git clean -fdx` and `git gc` on the checkout where main
is checked out. The queue and state live where `init` puts them (.git/orchestrator/), and
agents.yaml is committed, as a user would keep it. Also printed then: tasks in done/ whose
commits are not on main, half-merges left in the person's checkout (MERGE_HEAD, index.lock,
tracked changes), and imported tasks missing after the imports are run once more.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
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
from orchestrator.store.queue import Queue  # noqa: E402
from orchestrator.store.records import STATES  # noqa: E402

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


def build(root: Path, tasks: int, people: bool) -> configmod.Config:
    repo = root / "repo"
    repo.mkdir()
    (repo / "README.md").write_text("fault injection\n")
    Repo.create(repo)
    (root / "locks").mkdir()
    (root / "agent.py").write_text(AGENT)
    agent = lambda name: {"name": name, "command": [sys.executable, str(root / "agent.py"), str(root)],  # noqa: E731
                          "max_concurrent": 4, "timeout_seconds": 60}
    import yaml
    settings = {"repo": "repo", "queue_dir": "queue", "state_dir": "state", "tick_seconds": 1, "max_running": 8,
                "max_attempts": 6, "retry_backoff_seconds": 0.05, "kill_grace_seconds": 0.2, "review": "human",
                "agents": [agent("chaos-1"), agent("chaos-2")]}
    config_path = root / "agents.yaml"
    if people:  # the layout init writes, with agents.yaml committed in the repository
        settings.update(repo=".", queue_dir=".git/orchestrator/queue", state_dir=".git/orchestrator/state")
        config_path = repo / "agents.yaml"
    config_path.write_text(yaml.safe_dump(settings))
    if people:
        for args in (["add", "agents.yaml"], ["-c", "user.email=p@example.com", "-c", "user.name=P", "commit",
                                              "-q", "-m", "agents.yaml"]):
            subprocess.run(["git", "-C", str(repo), *args], check=True)
    cfg = configmod.load(config_path)
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
    config = str(CONFIG_PATH.get(root, root / "agents.yaml"))
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


CONFIG_PATH: dict[Path, Path] = {}  # scratch root -> its agents.yaml (in the repository with --people)


class Person:
    """Decisions and git habits at random, each CLI command SIGKILLed at a random moment one time in three."""

    PLAN = "# Plan {n}\n\n- [ ] P{n}01 first step of plan {n}\n- [ ] P{n}02 second step of plan {n}\n"

    def __init__(self, cfg: configmod.Config, root: Path, rng: random.Random):
        self.cfg, self.root, self.rng = cfg, root, rng
        self.queue = Queue(cfg.queue_dir, cfg.state_dir)
        self.stop = threading.Event()
        self.done: collections.Counter = collections.Counter()
        self.plans: list[Path] = []
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _cli(self, *args: str) -> None:
        proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "--config", str(self.cfg.path), *args],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        if self.rng.random() < 1 / 3:
            time.sleep(self.rng.uniform(0.0, 0.4))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                self.done[f"{args[0]}_killed"] += 1
        proc.wait(120)
        self.done[args[0]] += 1

    def _git(self, *args: str) -> None:
        subprocess.run(["git", "-C", str(self.cfg.repo), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.done["git " + args[0] + (" " + args[1] if args[0] in ("stash", "clean") else "")] += 1

    def _pick(self, state: str) -> str | None:
        names = [e.name[:-3] for e in self.queue.names(state)]
        return self.rng.choice(names) if names else None

    def _loop(self) -> None:
        while not self.stop.is_set():
            time.sleep(self.rng.uniform(0.1, 0.5))
            action = self.rng.choice(["accept", "accept", "reject", "cancel", "retry", "import", "stash", "clean", "gc"])
            if action in ("accept", "reject"):
                task = self._pick("provisional")
                if task:
                    self._cli("accept", task, "--merge") if action == "accept" else \
                        self._cli("reject", task, "--reason", "try again")
            elif action == "cancel":
                task = self._pick("incoming") or self._pick("claimed")
                if task:
                    self._cli("cancel", task)
            elif action == "retry":
                task = self._pick("failed")
                if task:
                    self._cli("retry", task)
            elif action == "import":
                plan = self.root / f"plan-{len(self.plans)}.md"
                plan.write_text(self.PLAN.format(n=len(self.plans)))
                self.plans.append(plan)
                self._cli("import", str(plan))
            elif action == "stash":
                (self.cfg.repo / "scratch.txt").write_text("the person's scratch notes\n")
                self._git("stash", "-u")
                self._git("stash", "pop")
            elif action == "clean":
                self._git("clean", "-fdx")
            else:
                self._git("gc", "--prune=now", "--quiet")

    def start(self) -> None:
        self.thread.start()

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(300)

    def complete_imports(self) -> list[str]:
        """Run every plan's import once more (an import cut short is completed by running it again);
        return the ids planned but missing afterwards."""
        missing = []
        for n, plan in enumerate(self.plans):
            subprocess.run([sys.executable, "-m", "orchestrator", "--config", str(self.cfg.path), "import", str(plan)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
            missing += [i for i in (f"P{n}01", f"P{n}02") if self.queue.locate(i) is None]
        return missing


def repository_damage(cfg: configmod.Config, queue: Queue) -> dict:
    """Tasks in done/ whose branch is not on main, and half-merges left in the person's checkout."""
    repo = Repo(cfg.repo)
    not_on_main = [e.name[:-3] for e in queue.names("done")
                   if not repo.ok("merge-base", "--is-ancestor", cfg.branch_of(e.name[:-3]), cfg.base_branch)]
    git_dir = Path(repo.git("rev-parse", "--absolute-git-dir").strip())
    half = [m for m in ("MERGE_HEAD", "index.lock", "rebase-merge", "rebase-apply") if (git_dir / m).exists()]
    if repo.git("status", "--porcelain", "--untracked-files=no").strip():
        half.append("tracked changes")
    return {"done_tasks_not_on_main": len(not_on_main), "half_merges_in_the_persons_checkout": half}


def settled(queue: Queue) -> bool:
    """Nothing left to run. (A task in blocked/ waits for one in review: with a person in the loop,
    that is where work rests until somebody decides.)"""
    return queue.count("incoming") == 0 and queue.count("claimed") == 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--no-people", dest="people", action="store_false",
                        help="only kills: no person deciding and running git alongside")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="orch-faults-"))
    cfg = build(root, args.tasks, args.people)
    CONFIG_PATH[root] = cfg.path
    queue = Queue(cfg.queue_dir, cfg.state_dir)
    print(f"cores: {os.cpu_count()}  tasks: {args.tasks}  kills planned: {args.kills}  people: {args.people}  "
          f"dir: {root}")
    started = time.monotonic()
    drivers = Drivers(cfg)
    drivers.start()
    person = Person(cfg, root, random.Random(args.seed + 1)) if args.people else None
    if person:
        person.start()
    kills = kill_randomly(root, args.kills, rng)
    if person:
        person.finish()
    print(f"kills done after {time.monotonic() - started:.0f} s: {dict(kills)}; letting the queue finish")
    deadline = time.monotonic() + 3600
    while not settled(queue) and time.monotonic() < deadline:
        time.sleep(1)
    drivers.finish()
    time.sleep(1)
    extra = {}
    if person:
        extra = {"person": dict(person.done), "imported_tasks_missing": len(person.complete_imports()),
                 **repository_damage(cfg, queue)}
    report(root, cfg, queue, args.tasks, kills, time.monotonic() - started, extra)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def report(root: Path, cfg, queue: Queue, tasks: int, kills: collections.Counter, seconds: float,
           extra: dict) -> None:
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
    final = collections.Counter(states[0] for i, states in where.items() if len(states) == 1 and i in ids)
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
        **extra,
    }, indent=1))


if __name__ == "__main__":
    sys.exit(main())
