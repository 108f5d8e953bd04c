"""Importing Markdown plans: the two real samples in ../shared/samples, and shapes written here."""

from __future__ import annotations

import pytest

from tests.support import SHARED_SAMPLES as SAMPLES

SPEC_KIT = SAMPLES / "001_3f61e939b0153087.txt"
TRACKER = SAMPLES / "000_89b66ae88aa5945f.txt"
needs_samples = pytest.mark.skipif(not SPEC_KIT.exists(), reason=f"the shared samples are not at {SAMPLES}")


def deps(env, task_id):
    return env.read(task_id).depends_on


@needs_samples
def test_spec_kit_plan(env):
    env.write_config([env.agent("impl-1")])
    out = env.cli("import", str(SPEC_KIT))
    assert out.returncode == 0, out.stderr
    assert "enqueued 24 tasks" in out.stdout and "19 done in the plan" in out.stdout  # T001-T018, T027
    assert env.queue.count("incoming") == 1 and env.queue.count("blocked") == 23
    assert env.state_of("T019") == "incoming" and deps(env, "T019") == ()
    assert deps(env, "T020") == ("T019",)  # unmarked tasks run in order
    assert deps(env, "T028") == ("T026",)  # T027 is done: the chain skips it
    for n in range(37, 43):  # [P] components wait for the phase before, not for each other
        assert deps(env, f"T0{n}") == ("T036",)
    assert deps(env, "T043") == ("T037", "T038", "T039", "T040", "T041", "T042")
    task = env.read("T022")
    assert task.title == "Integrate OpenCode SDK server in apps/sidecar/src/opencode/server.ts"
    assert "section: Tasks: OpenAgent MVP Implementation › Phase 3.3: Core Implementation (ONLY after tests are failing) › Sidecar" in task.body
    assert "Conventions of the plan:" in task.body and "tests/contract/" in task.body  # its Path Conventions


@needs_samples
def test_tracker_plan_with_tables_and_mojibake(env):
    env.write_config([env.agent("impl-1")])
    out = env.cli("import", str(TRACKER))
    assert out.returncode == 0, out.stderr
    assert "enqueued 3 tasks" in out.stdout and "12 done in the plan" in out.stdout
    assert env.read("TASK-030").title == "Artifact Bundler"
    assert deps(env, "TASK-030") == ("TASK-031",)  # from the dependency table; TASK-013 and -023 are done
    assert deps(env, "TASK-031") == ()
    assert deps(env, "TASK-032") == ("TASK-030",)  # drawn in the graph (its damaged arrows read as drawn)
    assert "index table" in out.stdout  # the Key Dependencies table repeats the tasks
    body = env.read("TASK-030").body
    assert "Bundle generation for **both stacks**" in body and "TASK-030-artifact-bundler.md" in body


@needs_samples
@pytest.mark.parametrize("sample", [SPEC_KIT, TRACKER])
def test_import_twice_creates_nothing_twice(env, sample):
    env.write_config([env.agent("impl-1")])
    first = env.cli("import", str(sample))
    total = sum(env.queue.count(s) for s in ("incoming", "blocked"))
    second = env.cli("import", str(sample))
    assert first.returncode == second.returncode == 0
    assert "enqueued 0 tasks, updated 0" in second.stdout and sum(env.queue.count(s) for s in ("incoming", "blocked")) == total


@needs_samples
def test_dry_run_prints_tasks_and_graph_and_writes_nothing(env):
    env.write_config([env.agent("impl-1")])
    out = env.cli("import", str(SPEC_KIT), "--dry-run")
    assert out.returncode == 0
    assert "<- T037, T038, T039, T040, T041, T042" in out.stdout
    assert "critical path: 19 tasks (T019 -> T020" in out.stdout and "max parallelism: 6" in out.stdout
    assert "dry run: nothing was enqueued" in out.stdout
    assert env.queue.count("incoming") == 0 and env.queue.count("blocked") == 0


def write(tmp_path, text, name="plan.md"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_table_with_id_title_and_depends_columns(env, tmp_path):
    env.write_config([env.agent("impl-1")])
    plan = write(tmp_path, "# Plan\n\n| ID | Title | Depends on | Status |\n|---|---|---|---|\n"
                           "| API-1 | Design the API | | open |\n| API-2 | Build it | API-1 | todo |\n"
                           "| API-3 | Document it | API-1, API-2 | Done |\n")
    out = env.cli("import", str(plan), "--role", "docs")
    assert out.returncode == 0, out.stderr
    assert deps(env, "API-2") == ("API-1",) and env.state_of("API-3") is None
    assert env.read("API-1").role == "docs"


def test_checklist_without_ids_nested_items_and_inline_dependencies(env, tmp_path):
    env.write_config([env.agent("impl-1")])
    plan = write(tmp_path, "## Backend\n\n- [ ] #12 Add the endpoint\n  - [ ] validate input\n  - [x] write types\n"
                           "- [ ] [P] Write the migration\n\n## Frontend\n\n- [ ] Build the form (depends on #12)\n")
    out = env.cli("import", str(plan))
    assert out.returncode == 0, out.stderr
    assert "- [ ] validate input" in env.read("12").body  # nested items are body lines
    assert deps(env, "write-the-migration") == ("12",)
    form = "build-the-form-depends-on-12"
    assert set(deps(env, form)) == {"12", "write-the-migration"}  # [P] makes it spec-kit: phases in order


def test_prefix_keeps_two_plans_apart(env, tmp_path):
    env.write_config([env.agent("impl-1")])
    assert env.cli("import", str(write(tmp_path, "- [ ] T001 First plan's task\n", "a.md"))).returncode == 0
    clash = env.cli("import", str(write(tmp_path, "- [ ] T001 Another plan's task\n", "b.md")))
    assert clash.returncode == 1 and "already used by another task" in clash.stderr and "--prefix" in clash.stderr
    assert env.cli("import", str(tmp_path / "b.md"), "--prefix", "b").returncode == 0
    assert env.read("b-T001").title == "Another plan's task"


@pytest.mark.parametrize("text, message", [
    ("Just some prose.\n", "found no tasks"),
    ("- [ ] T001 A (depends on T002)\n- [ ] [P] T002 B (depends on T001)\n",
     "plan.md:1: dependency cycle T001 -> T002 -> T001: T001 after T002 (line 1, stated), T002 after T001 (line 2, "
     "stated)"),
])
def test_plans_that_cannot_be_imported_say_why_and_import_nothing(env, tmp_path, text, message):
    env.write_config([env.agent("impl-1")])
    out = env.cli("import", str(write(tmp_path, text)))
    assert out.returncode != 0 and message in out.stderr, out.stderr
    assert env.queue.count("incoming") == 0 and env.queue.count("blocked") == 0


def test_damaged_encoding_imports(env, tmp_path):
    env.write_config([env.agent("impl-1")])
    path = tmp_path / "broken.md"
    path.write_bytes("## ðŸš€ Phase\n\n- [ ] T001 Fix Ã©lan âœ… thing\n".encode() + b"- [ ] T002 bad byte \xff here\n")
    out = env.cli("import", str(path))
    assert out.returncode == 0, out.stderr
    assert env.read("T001").title == "Fix Ã©lan âœ… thing" and "\ufffd" in env.read("T002").title
