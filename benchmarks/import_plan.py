"""Importing a long plan, and importing it again after an edit (issue 17: both under 1 s for 2,000 items).

    python benchmarks/import_plan.py [--items 2000] [--runs 3]

The plan is generated in the shapes the corpus has, at scale: spec-kit phases of checklist tasks with
[P] runs, stated dependencies in prose and labels, a table of tasks with Priority and Depends On
columns, task headings with acceptance criteria. Each run imports it into an empty queue (every task
file written and journaled), then re-imports it unchanged (nothing to write), then re-imports it after
an edit (every 20th item retitled, every 50th ticked). Prints each step's median wall time, the
tasks per second, and the ratio to the 1 s budget; reading alone (--dry-run) side by side.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator import Orchestrator  # noqa: E402

BUDGET = 1.0


def make_plan(items: int) -> str:
    lines = ["# Tasks: Platform rewrite", "", "## Conventions", "", "- Tests live in tests/, code in src/.", ""]
    per_phase = 100
    n = 0
    phase = 0
    while n < items:
        phase += 1
        lines += [f"## Phase {phase}: Area {phase} (Priority: P{phase % 4})", ""]
        if phase > 1:
            lines += [f"**Depends on**: Phase {phase - 1}", ""]
        headings = []
        for i in range(per_phase):
            if n >= items:
                break
            n += 1
            tid = f"T{n:04d}"
            kind = i % 10
            if kind == 7:  # a task heading with criteria, at the end of its phase
                headings += [f"### Task {tid}: Heading task {n} of phase {phase}", "", "**Estimate**: 2h", "",
                             "#### Acceptance criteria", "", "- [ ] it works", "- [ ] it is tested", ""]
            elif kind == 8 and n > 2:
                lines.append(f"- [ ] {tid} [P] Build part {n} in src/area{phase}/part{n}.py (depends on T{n - 2:04d})")
            else:
                marker = "[P] " if i % 3 == 0 else ""
                lines.append(f"- [ ] {tid} {marker}Implement piece {n} in src/area{phase}/piece{n}.py")
        lines += [""] + headings
    return "\n".join(lines) + "\n"


def edited(text: str) -> str:
    out = []
    for i, line in enumerate(text.splitlines()):
        if line.startswith("- [ ] T") and i % 20 == 0:
            line = line.replace("Implement piece", "Implement and document piece")
        if line.startswith("- [ ] T") and i % 50 == 0:
            line = line.replace("- [ ]", "- [x]", 1)
        out.append(line)
    return "\n".join(out) + "\n"


def fresh_queue(root: Path) -> Orchestrator:
    repo = root / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (root / "agents.yaml").write_text(f"repo: {repo}\nqueue_dir: queue\nstate_dir: state\nagents:\n"
                                      "  - {name: a, command: [\"true\"]}\n")
    return Orchestrator(root / "agents.yaml")


def timed(call) -> tuple[float, dict]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    steps: dict[str, list[float]] = {"read only (--dry-run)": [], "import into an empty queue": [],
                                     "re-import, unchanged": [], "re-import after an edit": []}
    last = {}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            plan = root / "plan.md"
            plan.write_text(make_plan(args.items))
            orch = fresh_queue(root)
            seconds, _ = timed(lambda: orch.import_plan(plan, dry_run=True).to_json())
            steps["read only (--dry-run)"].append(seconds)
            seconds, first = timed(lambda: orch.import_plan(plan).to_json())
            steps["import into an empty queue"].append(seconds)
            seconds, _ = timed(lambda: orch.import_plan(plan).to_json())
            steps["re-import, unchanged"].append(seconds)
            plan.write_text(edited(plan.read_text()))
            seconds, last = timed(lambda: orch.import_plan(plan).to_json())
            steps["re-import after an edit"].append(seconds)
    print(f"plan: {args.items} items -> {first['counts']['tasks']} tasks, critical path "
          f"{first['critical_path']['length']}, max parallelism {first['max_parallelism']}, "
          f"{first['counts']['stated_edges']} stated and {first['counts']['implied_edges']} implied edges")
    print(f"edit: {len(last['sync']['updated'])} updated, {len(last['sync']['ticked'])} ticked")
    print(f"{'step':<30} {'median s':>9} {'tasks/s':>9} {'of 1 s budget':>14}")
    for name, values in steps.items():
        median = statistics.median(values)
        print(f"{name:<30} {median:9.3f} {args.items / median:9.0f} {median / BUDGET:13.2f}x")
    worst = max(statistics.median(v) for k, v in steps.items() if k != "read only (--dry-run)")
    print(f"\nslowest step {worst:.3f} s: {'within' if worst < BUDGET else 'OVER'} the 1 s budget")
    return 0 if worst < BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
