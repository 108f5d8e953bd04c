"""The corpus: plans in the shapes people write (tests/unit/plans/corpus/*.md), each with what a
careful reader takes from it (NAME.yaml): every task with its title, priority, estimate and what it
waits for, the items done in the plan, every warning by line, the critical path and the widest point.
Checked exactly; and importing each twice changes nothing the second time (tests/integration/plans)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.base.errors import UsageError
from orchestrator.plans import order as ordering
from orchestrator.plans.importer import ImportOptions, build
from orchestrator.plans.reader import read_plan
from orchestrator.store.queue import Queue

CORPUS = Path(__file__).parent / "corpus"
PLANS = sorted(CORPUS.glob("*.md"))
PLANS = [p for p in PLANS if p.name != "README.md" and p.with_suffix(".yaml").exists()]


def understood(path: Path, tmp_path: Path, options: dict) -> dict:
    queue = Queue(tmp_path / "queue", tmp_path / "state")
    built = build(read_plan(path), queue, path.parent, ImportOptions(sequential=bool(options.get("sequential"))))
    keys = [item.key for item, _ in built.tasks]
    return {
        "tasks": [{"id": t.id, "title": t.title, "priority": t.priority, "estimate": t.estimate,
                   "depends_on": sorted(t.depends_on)} for _, t in built.tasks],
        "done": [built.ids[item.key] for item in built.done],
        "warnings": [(line, message) for line, message in built.plan.warnings],
        "critical_path": len(ordering.critical_path(built.order.deps, keys)),
        "max_parallelism": ordering.max_parallelism(built.order.deps, keys),
    }


@pytest.mark.parametrize("path", PLANS, ids=[p.stem for p in PLANS])
def test_corpus_plan_is_read_as_written(path, tmp_path):
    expected = yaml.safe_load(path.with_suffix(".yaml").read_text(encoding="utf-8"))
    options = expected.get("options") or {}
    if expected.get("refused"):
        with pytest.raises(UsageError) as refusal:
            understood(path, tmp_path, options)
        refused = expected["refused"]
        assert f":{refused['line']}:" in str(refusal.value) and refused["says"] in str(refusal.value)
        return
    got = understood(path, tmp_path, options)
    want_tasks = [{"id": str(t["id"]), "title": t["title"], "priority": t.get("priority", "P2"),
                   "estimate": t.get("estimate"), "depends_on": sorted(str(d) for d in t.get("depends_on") or [])}
                  for t in expected["tasks"]]
    assert [t["id"] for t in got["tasks"]] == [t["id"] for t in want_tasks]
    for have, want in zip(got["tasks"], want_tasks, strict=True):
        assert have == want, want["id"]
    assert got["done"] == [str(d) for d in expected.get("done") or []]
    warnings = expected.get("warnings") or []
    assert [line for line, _ in got["warnings"]] == [w["line"] for w in warnings], got["warnings"]
    for (line, message), want in zip(got["warnings"], warnings, strict=True):
        assert want["says"] in message, (line, message)
    assert (got["critical_path"], got["max_parallelism"]) == (expected["critical_path"], expected["max_parallelism"])



def test_the_corpus_has_the_plans_the_issue_asks_for():
    assert len(PLANS) >= 15, [p.name for p in PLANS]
    assert sum(len(p.read_text(encoding="utf-8").splitlines()) > 100 for p in PLANS) >= 3  # long, messy ones
