"""Time to a ready worktree on a large repository: plain `git worktree add`, a pooled worktree, a sparse one.

    python benchmarks/worktree_pool.py [--files 60000] [--runs 5]

All three side by side on the same generated repository (files spread over 60 directories).
Each pooled take is verified clean and on the right commit, as the runner does; between runs the
worktree goes back to the pool (or is removed), which is not timed. The sparse checkout takes one
of the 60 directories.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import cores, git_version

from orchestrator.git.pool import add_sparse, give_back, take_slot
from orchestrator.git.repo import Repo


def make_large_repo(path: Path, files: int) -> Repo:
    path.mkdir(parents=True)
    per_dir = max(1, files // 60)
    for n in range(files):
        d = path / f"pkg{n // per_dir:02d}"
        if n % per_dir == 0:
            d.mkdir(exist_ok=True)
        (d / f"module{n}.py").write_text(f"VALUE = {n}\n")
    return Repo.create(path)


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=60000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="orch-pool-"))
    build = time.perf_counter()
    repo = make_large_repo(root / "repo", args.files)
    build = time.perf_counter() - build
    pool, plain, pooled, sparse = root / "pool", [], [], []
    for n in range(args.runs):
        wt = root / "wt" / f"plain{n}"
        plain.append(timed(lambda: repo.git("worktree", "add", "-q", "-b", f"plain{n}", str(wt), "main")))
        repo.git("worktree", "remove", str(wt))
    first = root / "wt" / "seed"
    repo.git("worktree", "add", "-q", "-b", "seed", str(first), "main")
    with repo.metadata_lock():
        assert give_back(repo, pool, first, "main", 1)
    for n in range(args.runs):
        wt = root / "wt" / f"pooled{n}"
        with repo.metadata_lock():
            pooled.append(timed(lambda: take_slot(repo, pool, wt, f"pooled{n}", "main")))
            assert give_back(repo, pool, wt, "main", 1)
    for n in range(args.runs):
        wt = root / "wt" / f"sparse{n}"
        sparse.append(timed(lambda: add_sparse(repo, wt, f"sparse{n}", "main", ("pkg07",))))
        repo.git("worktree", "remove", "--force", str(wt))
    p, q, s = statistics.median(plain), statistics.median(pooled), statistics.median(sparse)
    print(json.dumps({
        "machine": cores(), "git": git_version(), "files": args.files, "repo_built_in_seconds": round(build, 1),
        "plain_worktree_add_seconds": {"median": round(p, 3), "runs": [round(x, 3) for x in plain]},
        "pooled_worktree_seconds": {"median": round(q, 3), "runs": [round(x, 3) for x in pooled]},
        "sparse_worktree_seconds": {"median": round(s, 3), "runs": [round(x, 3) for x in sparse]},
        "pooled_over_plain": round(q / p, 3), "sparse_over_plain": round(s / p, 3),
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
