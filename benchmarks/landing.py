"""The merge queue against sequential landing (the Gas Town Refinery way), side by side in one run.

    python benchmarks/landing.py [--branches 20] [--check-seconds 2] [--batch 8] [--parallel 2]

Both sides start from copies of one repository with 20 accepted branches, each adding its own file:
3 of them also change a line an earlier branch changes (they conflict once that one landed), 2 add a
file the check rejects. The check sleeps --check-seconds (a test suite's time) and fails on a
tracked .txt file that says BROKEN.

- sequential: for each branch in order, rebase it onto main in a worktree, run the check there, and
  fast-forward main to it when it passes (a conflict or a failure sends it back without landing);
- merge queue: the same branches accepted as tasks into landing/, then the orchestrator's lander
  (flow/land.py) until landing/ is empty, with land_batch --batch and land_parallel --parallel.

Prints each side's wall time and number of check runs, the ratio (target <= 0.4), and verifies on
both sides that every commit on main's first-parent line passes the check and that no branch was
lost (each is on main, or sent back with its branch intact).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator import Orchestrator  # noqa: E402
from orchestrator.git.repo import Repo  # noqa: E402

CHECK = textwrap.dedent("""
    import pathlib, subprocess, sys, time
    time.sleep(float(sys.argv[1]))
    tracked = subprocess.run(["git", "ls-files", "*.txt"], capture_output=True, text=True).stdout.split()
    bad = [name for name in tracked if "BROKEN" in pathlib.Path(name).read_text()]
    print("BROKEN in " + ", ".join(bad) if bad else "ok")
    sys.exit(1 if bad else 0)
""")
IDENTITY = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *IDENTITY, *args], cwd=cwd, capture_output=True, text=True, check=check)


def plan(branches: int) -> list[tuple[str, dict[str, str]]]:
    """(name, files) per branch: the 3rd/9th/14th change the line the 2nd/8th/13th change; 7th and 14th break."""
    conflicts = {5: 2, 11: 8, 16: 13}
    broken = {7, 14}
    out = []
    for i in range(1, branches + 1):
        files = {f"b{i:02d}.txt": "BROKEN\n" if i in broken else f"work of branch {i}\n"}
        if i in conflicts.values() or i in conflicts:
            files[f"shared{min(k for k, v in conflicts.items() if i in (k, v))}.txt"] = f"line from branch {i}\n"
        out.append((f"b{i:02d}", files))
    return out


def make_template(root: Path, branches: int) -> Path:
    repo = root / "template"
    repo.mkdir(parents=True)
    (repo / "README.md").write_text("# landing benchmark\n")
    for k in (5, 11, 16):
        (repo / f"shared{k}.txt").write_text("original line\n")
    Repo.create(repo)
    for name, files in plan(branches):
        git(repo, "checkout", "-q", "-b", f"agent/{name}", "main")
        for path, text in files.items():
            (repo / path).write_text(text)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"work on {name}")
        git(repo, "checkout", "-q", "main")
    return repo


def sequential(repo: Path, names: list[str], check: list[str]) -> tuple[float, int, list[str]]:
    """Rebase, test, fast-forward, one branch at a time. Returns (seconds, checks run, landed)."""
    started = time.monotonic()
    work = repo.parent / "refinery"
    git(repo, "worktree", "add", "-q", "--detach", str(work), "main")
    checks, landed = 0, []
    for name in names:
        git(work, "checkout", "-q", "--detach", f"agent/{name}")
        if git(work, "rebase", "-q", "main", check=False).returncode != 0:
            git(work, "rebase", "--abort", check=False)
            continue
        checks += 1
        if subprocess.run(check, cwd=work, capture_output=True).returncode != 0:
            continue
        head = git(work, "rev-parse", "HEAD").stdout.strip()
        git(repo, "merge", "-q", "--ff-only", head)
        landed.append(name)
    git(repo, "worktree", "remove", "--force", str(work))
    return time.monotonic() - started, checks, landed


def merge_queue(root: Path, repo: Path, names: list[str], check: list[str], batch: int,
                parallel: int) -> tuple[float, int, list[str]]:
    config = root / "agents.yaml"
    config.write_text(yaml.safe_dump({
        "repo": str(repo), "queue_dir": str(root / "queue"), "state_dir": str(root / "state"), "merge": "queue",
        "check": check, "land_batch": batch, "land_parallel": parallel, "check_timeout_seconds": 600,
        "agents": [{"name": "impl", "command": ["true"]}]}))
    orch = Orchestrator(config)
    for name in names:  # accepted in branch order, as the sequential side takes them
        orch.enqueue(f"work on {name}", task_id=name)
        orch.queue.transition(name, "incoming", "provisional", actor="benchmark")
        orch.accept(name)
    started = time.monotonic()
    rounds = orch.land()
    seconds = time.monotonic() - started
    return seconds, sum(r.checks for r in rounds), [t for r in rounds for t in r.landed]


def verify(repo: Path, names: list[str], landed: list[str], check: list[str]) -> list[str]:
    """Problems: a first-parent commit of main that fails the check, a branch lost."""
    problems = []
    commits = git(repo, "rev-list", "--first-parent", "main").stdout.split()
    tree = repo.parent / "verify"
    for commit in commits:
        git(repo, "worktree", "add", "-q", "--detach", str(tree), commit)
        if subprocess.run([*check[:-1], "0"], cwd=tree, capture_output=True).returncode != 0:
            problems.append(f"main's commit {commit[:12]} fails the check")
        git(repo, "worktree", "remove", "--force", str(tree))
    files = set(git(repo, "ls-tree", "--name-only", "main").stdout.split())
    for name in names:
        if git(repo, "rev-parse", "--verify", "-q", f"agent/{name}", check=False).returncode != 0:
            problems.append(f"branch agent/{name} is gone")
        if name in landed and f"{name}.txt" not in files:
            problems.append(f"{name} counted as landed but its file is not on main")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--branches", type=int, default=20)
    parser.add_argument("--check-seconds", type=float, default=2.0)
    parser.add_argument("--batch", type=int, default=8, help="land_batch for the merge queue")
    parser.add_argument("--parallel", type=int, default=2, help="land_parallel for the merge queue")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="landing-bench-") as tmp:
        root = Path(tmp)
        template = make_template(root / "t", args.branches)
        (root / "check.py").write_text(CHECK)
        check = [sys.executable, str(root / "check.py"), str(args.check_seconds)]
        names = [name for name, _ in plan(args.branches)]
        results = {}
        for side in ("sequential", "merge queue"):
            repo = root / side.replace(" ", "-") / "repo"
            repo.parent.mkdir()
            shutil.copytree(template, repo, symlinks=True)
            if side == "sequential":
                seconds, checks, landed = sequential(repo, names, check)
            else:
                seconds, checks, landed = merge_queue(repo.parent, repo, names, check, args.batch, args.parallel)
            results[side] = (seconds, checks, landed, verify(repo, names, landed, check))
        print(f"{args.branches} accepted branches (3 conflict with earlier ones, 2 fail the check), "
              f"check {args.check_seconds:g} s; merge queue: land_batch {args.batch}, land_parallel {args.parallel}")
        print(f"{'':14} {'wall s':>8} {'checks':>7} {'landed':>7}  main green, nothing lost")
        for side, (seconds, checks, landed, problems) in results.items():
            print(f"{side:14} {seconds:8.2f} {checks:7d} {len(landed):7d}  "
                  f"{'yes' if not problems else '; '.join(problems)}")
        ratio = results["merge queue"][0] / results["sequential"][0]
        print(f"ratio merge queue / sequential: {ratio:.2f} (target <= 0.40)")
        same = sorted(results["sequential"][2]) == sorted(results["merge queue"][2])
        print(f"same branches landed on both sides: {'yes' if same else 'no'}")
        return 0 if ratio <= 0.4 and same and not any(r[3] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
