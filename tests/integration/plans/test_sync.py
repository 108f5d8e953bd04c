"""Importing a plan again after an edit: the tasks it made follow the plan while they wait, never once
they run or are finished, and nothing is created twice. And every corpus plan imports twice to the
same queue."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.api import Orchestrator
from tests.unit.plans.test_corpus import PLANS

PLAN = """# Release 2.3

## Backend

- [ ] API-1 Add the export endpoint
- [ ] API-2 Paginate the export (depends on API-1)
- [ ] Write the migration guide

## Frontend

- [ ] UI-1 Export button (after API-1)
"""


def importer(env, text: str, **options):
    path = env.root / "plan.md"
    path.write_text(text, encoding="utf-8")
    return Orchestrator(config=env.config).import_plan(path, **options).to_json()


def ids_in(env, state: str) -> list[str]:
    return sorted(p.stem for p in (env.config.queue_dir / state).glob("*.md"))


def test_retitle_rebody_and_new_dependency_update_the_waiting_tasks(env):
    env.write_config([env.agent("impl-1")])
    importer(env, PLAN)
    assert ids_in(env, "incoming") == ["API-1", "write-the-migration-guide"]
    edited = (PLAN.replace("Add the export endpoint", "Add the CSV export endpoint")
              .replace("Write the migration guide", "Write the upgrade guide (after API-2)"))
    report = importer(env, edited)
    assert report["sync"]["updated"] == ["API-1", "write-the-migration-guide"]
    assert report["sync"]["created"] == [] and report["sync"]["removed"] == []
    assert env.read("API-1").title == "Add the CSV export endpoint"
    guide = env.read("write-the-migration-guide")  # retitled without an id: the same task, its id kept
    assert guide.title == "Write the upgrade guide (after API-2)" and guide.depends_on == ("API-2",)
    assert env.state_of("write-the-migration-guide") == "blocked"  # it now waits for API-2
    assert [e["event"] for e in env.events("API-1")].count("revised") == 1
    again = importer(env, edited)
    assert again["sync"]["updated"] == [] and len(again["sync"]["unchanged"]) == 4


def test_ticked_items_finish_their_tasks_and_release_what_waited(env):
    env.write_config([env.agent("impl-1")])
    importer(env, PLAN)
    assert env.state_of("API-2") == "blocked" and env.state_of("UI-1") == "blocked"
    report = importer(env, PLAN.replace("- [ ] API-1", "- [x] API-1"))
    assert report["sync"]["ticked"] == ["API-1"]
    assert env.state_of("API-1") == "done" and [e["event"] for e in env.events("API-1")][-1] == "done_in_plan"
    assert env.state_of("API-2") == "incoming" and env.state_of("UI-1") == "incoming"
    assert env.read("API-2").depends_on == ("API-1",)  # (unchanged: a done dependency is met, not removed)


def test_ticked_items_are_cancelled_when_configured(env):
    env.write_config([env.agent("impl-1")], import_ticked="cancel")
    importer(env, PLAN)
    importer(env, PLAN.replace("- [ ] Write the migration guide", "- [x] Write the migration guide"))
    assert env.state_of("write-the-migration-guide") == "failed"
    assert env.read("write-the-migration-guide").last_error.startswith("cancelled")


def test_removed_items_are_reported_and_left_added_items_are_created(env):
    env.write_config([env.agent("impl-1")])
    importer(env, PLAN)
    edited = PLAN.replace("- [ ] UI-1 Export button (after API-1)\n", "- [ ] UI-2 Export dialog (after API-2)\n")
    report = importer(env, edited)
    assert report["sync"]["removed"] == [{"id": "UI-1", "state": "blocked"}]
    assert report["sync"]["created"] == ["UI-2"] and env.read("UI-2").depends_on == ("API-2",)
    assert env.state_of("UI-1") == "blocked"  # left as it is: the person decides
    text = Orchestrator(config=env.config).import_plan(env.root / "plan.md").text()
    assert "no longer in the plan (left as they are): UI-1 (blocked)" in text


def test_a_running_or_finished_task_is_never_changed(env):
    env.write_config([env.agent("impl-1")])
    importer(env, PLAN)
    env.queue.transition("API-1", "incoming", "claimed", actor="test")
    env.queue.transition("write-the-migration-guide", "incoming", "done", actor="test")
    before = {t: (env.config.queue_dir / s / f"{t}.md").read_bytes()
              for t, s in (("API-1", "claimed"), ("write-the-migration-guide", "done"))}
    edited = (PLAN.replace("Add the export endpoint", "Something else entirely")
              .replace("- [ ] Write the migration guide", "- [x] Write the migration guide, retitled"))
    report = importer(env, edited)
    assert report["sync"]["left_alone"] == ["API-1"] and report["sync"]["ticked"] == []
    for (task_id, state), data in zip((("API-1", "claimed"), ("write-the-migration-guide", "done")),
                                      before.values(), strict=True):
        assert (env.config.queue_dir / state / f"{task_id}.md").read_bytes() == data
    assert "changed in the plan but running or finished: left alone: API-1" in \
        Orchestrator(config=env.config).import_plan(env.root / "plan.md", dry_run=True).text()


def test_dry_run_of_a_re_import_says_what_would_change_and_changes_nothing(env):
    env.write_config([env.agent("impl-1")])
    importer(env, PLAN)
    record = sorted((env.config.state_dir / "imports").glob("*.json"))
    snapshot = {p: p.read_bytes() for p in env.config.queue_dir.rglob("*.md")} | {p: p.read_bytes() for p in record}
    report = importer(env, PLAN.replace("Add the export endpoint", "Add it"), dry_run=True)
    assert report["dry_run"] and report["sync"]["updated"] == ["API-1"]
    assert {p: p.read_bytes() for p in snapshot} == snapshot


@pytest.mark.parametrize("plan", PLANS, ids=[p.stem for p in PLANS])
def test_every_corpus_plan_imports_twice_to_the_same_queue(env, plan: Path):
    import yaml

    expected = yaml.safe_load(plan.with_suffix(".yaml").read_text(encoding="utf-8"))
    if expected.get("refused"):
        pytest.skip("the plan is refused (test_corpus checks how)")
    env.write_config([env.agent("impl-1")])
    orch = Orchestrator(config=env.config)
    options = {"sequential": bool((expected.get("options") or {}).get("sequential"))}
    first = orch.import_plan(plan, **options).to_json()
    files = {p: p.read_bytes() for p in env.config.queue_dir.rglob("*.md")}
    second = orch.import_plan(plan, **options).to_json()
    assert len(first["sync"]["created"]) == len(expected["tasks"])
    assert second["sync"]["created"] == second["sync"]["updated"] == second["sync"]["ticked"] == []
    assert second["sync"]["removed"] == [] and len(second["sync"]["unchanged"]) == len(expected["tasks"])
    assert {p: p.read_bytes() for p in env.config.queue_dir.rglob("*.md")} == files
