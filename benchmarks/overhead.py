"""Overhead per task against git's own cost: the orchestrator next to a plain shell loop.

    python benchmarks/overhead.py                          # 5,000 files, concurrency 1 and 4
    python benchmarks/overhead.py --files 60000 --tasks 50 # the large repository (slow: git writes 60k files a task)

Both sides run 50 tasks with the same agent (writes a file, commits, exits) on the same
generated repository, at the same concurrency. The orchestrator: a daemon (tick_seconds 60,
woken by events), wall time from the first enqueue to the last task in provisional/. The
reference: `xargs -P N` over a shell script doing worktree add (serialized with flock, as git
needs), the agent, worktree remove. Prints both wall times and their ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import COMMIT_AGENT, ROOT, cores, git_version, make_config
from worktree_pool import make_large_repo

from orchestrator.queue import Queue
from orchestrator.task import Task

SHELL_STEP = r"""
set -e
i="$1"; repo="$2"; work="$3"; agent="$4"
flock "$repo/.git/bench.lock" git -C "$repo" worktree add -q -b "plain-$i" "$work/wt-$i" main
(cd "$work/wt-$i" && ORCH_TASK_ID="t$i" "$PYTHON" "$agent")
flock "$repo/.git/bench.lock" git -C "$repo" worktree remove "$work/wt-$i"
"""


def run_orchestrator(root: Path, repo: Path, tasks: int, concurrency: int) -> float:
    cfg = make_config(root, repo, max_running=concurrency, max_concurrent=concurrency)
    queue = Queue(cfg.queue_dir, cfg.state_dir)
    queue.ensure_dirs()
    daemon = subprocess.Popen([sys.executable, "-m", "orchestrator", "--config", str(cfg.path), "--daemon"],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)
    start = time.monotonic()
    for n in range(tasks):
        queue.enqueue(Task(id=f"t{n:03d}", title=f"task {n}"), actor="bench")
    while queue.count("provisional") + queue.count("failed") < tasks:
        time.sleep(0.05)
    elapsed = time.monotonic() - start
    daemon.terminate()
    daemon.wait(30)
    assert queue.count("failed") == 0, "some tasks failed"
    return elapsed


def run_shell(root: Path, repo: Path, tasks: int, concurrency: int) -> float:
    agent = root / "agent.py"
    agent.write_text(COMMIT_AGENT)
    step = root / "step.sh"
    step.write_text(SHELL_STEP)
    work = root / "plain"
    work.mkdir()
    start = time.monotonic()
    subprocess.run(f"seq 0 {tasks - 1} | PYTHON={sys.executable} xargs -P {concurrency} -I{{}} "
                   f"bash {step} {{}} {repo} {work} {agent}", shell=True, check=True)
    return time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="orch-overhead-"))
    rows = []
    for c in args.concurrency:
        orch_root, shell_root = base / f"orch-c{c}", base / f"shell-c{c}"
        orch_root.mkdir(parents=True)
        shell_root.mkdir(parents=True)
        shell_repo = make_large_repo(shell_root / "repo", args.files).path
        orch_repo = make_large_repo(orch_root / "repo", args.files).path
        subprocess.run(["sync"], check=False)  # neither side pays for the other's writeback
        shell = run_shell(shell_root, shell_repo, args.tasks, c)
        subprocess.run(["sync"], check=False)
        orch = run_orchestrator(orch_root, orch_repo, args.tasks, c)
        rows.append({"concurrency": c, "shell_loop_seconds": round(shell, 1), "orchestrator_seconds": round(orch, 1),
                     "ratio": round(orch / shell, 3)})
    print(json.dumps({"machine": cores(), "git": git_version(), "files": args.files, "tasks": args.tasks,
                      "results": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
