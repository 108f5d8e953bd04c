"""Overhead per task against git's own cost: the orchestrator next to a plain shell loop.

    python benchmarks/overhead.py                    # 5,000 files, concurrency 1 and 4, 3 rounds
    python benchmarks/overhead.py --files 60000      # the large repository
    python benchmarks/overhead.py --dir /mnt/ram     # build everything on another filesystem (a tmpfs)

Both sides run 50 tasks with the same agent (writes a file, commits, exits) on repositories
generated alike, at the same concurrency. The orchestrator: a daemon (tick_seconds 60, woken by
events), wall time from the first enqueue to the last task in provisional/. The reference:
`xargs -P N` over a shell script doing worktree add (serialized with flock, as git needs), the
agent, worktree remove. Rounds interleave the two sides (and swap which goes first), so a change
in the machine's speed during the run hits both; the ratio is of the two medians.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import COMMIT_AGENT, ROOT, cores, git_version, make_config
from worktree_pool import make_large_repo

from orchestrator.formats.task import Task
from orchestrator.store.queue import Queue

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


def one_run(base: Path, side: str, files: int, tasks: int, concurrency: int) -> float:
    root = Path(tempfile.mkdtemp(prefix=f"{side}-c{concurrency}-", dir=base))
    repo = make_large_repo(root / "repo", files).path
    subprocess.run(["sync"], check=False)  # neither side pays for the other's writeback
    run = run_shell if side == "shell" else run_orchestrator
    seconds = run(root, repo, tasks, concurrency)
    shutil.rmtree(root, ignore_errors=True)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where to build the repositories (default: a temp dir)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="orch-overhead-", dir=args.dir))
    # As after any install: runners load the package from bytecode (this also holds where
    # PYTHONDONTWRITEBYTECODE is set, which would otherwise make every runner compile it again).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "orchestrator")], check=True)
    times: dict[tuple[int, str], list[float]] = {}
    for n in range(args.rounds):
        for c in args.concurrency:
            for side in (("shell", "orchestrator") if n % 2 == 0 else ("orchestrator", "shell")):
                seconds = one_run(base, side, args.files, args.tasks, c)
                times.setdefault((c, side), []).append(seconds)
                print(f"round {n + 1} concurrency {c} {side}: {seconds:.1f} s", file=sys.stderr, flush=True)
    rows = []
    for c in args.concurrency:
        shell, orch = statistics.median(times[(c, "shell")]), statistics.median(times[(c, "orchestrator")])
        rows.append({"concurrency": c, "shell_loop_seconds": [round(t, 1) for t in times[(c, "shell")]],
                     "orchestrator_seconds": [round(t, 1) for t in times[(c, "orchestrator")]],
                     "ratio_of_medians": round(orch / shell, 3)})
    print(json.dumps({"machine": cores(), "git": git_version(), "filesystem": filesystem(base), "files": args.files,
                      "tasks": args.tasks, "rounds": args.rounds, "results": rows}, indent=1))
    shutil.rmtree(base, ignore_errors=True)
    return 0


def filesystem(path: Path) -> str:
    """The type of the filesystem the repositories were built on (ext4, tmpfs, ...)."""
    out = subprocess.run(["df", "--output=fstype", str(path)], capture_output=True, text=True).stdout.split()
    return out[-1] if out else "unknown"


if __name__ == "__main__":
    sys.exit(main())
