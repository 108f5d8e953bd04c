from datetime import UTC, datetime

import pytest

from orchestrator.base.errors import TaskFileError
from orchestrator.formats import task as taskfmt


def parse(text, file_id="t1", trusted=True):
    return taskfmt.parse(text, file_id=file_id, source="queue/incoming/t1.md", trusted=trusted)


def test_round_trip_keeps_every_field():
    original = taskfmt.Task(id="t1", title="A title: with colon", body="Body\n\nwith lines\n", role="docs",
                            priority="P0", depends_on=("a", "b"), agent="impl-1", max_attempts=5,
                            created=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), parent="p",
                            attempts=2, retry_after=datetime(2026, 1, 2, 4, 0, tzinfo=UTC),
                            last_error="boom", feedback=("do better",), blocked_reason="waiting")
    assert parse(taskfmt.render(original)) == original


def test_defaults_and_id_from_file_name():
    t = parse("---\ntitle: Hello\n---\nbody\n")
    assert (t.id, t.role, t.priority, t.depends_on, t.attempts) == ("t1", "implement", "P2", (), 0)


def test_title_from_heading_when_there_is_no_frontmatter():
    t = parse("# Make it faster\n\nDetails.\n")
    assert t.title == "Make it faster" and t.body.startswith("# Make it faster")


@pytest.mark.parametrize("text, message", [
    ("---\ntitle: x\nprority: P1\n---\n", "queue/incoming/t1.md:3: key 'prority': unknown key 'prority' in the task "
                                          "frontmatter (did you mean 'priority'?)"),
    ("---\ntitle: x\npriority: P9\n---\n", "queue/incoming/t1.md:3: key 'priority': 'P9' is not one of P0, P1, P2, P3"),
    ("---\ntitle: x\ndepends_on: abc\n---\n", "queue/incoming/t1.md:3: key 'depends_on': must be a list of strings, "
                                              "got 'abc'"),
    ("---\n- a\n- b\n---\n", "the task frontmatter must be a mapping of keys to values, got list"),
    ("---\npriority: P1\n---\nno heading\n", "the task has no title"),
    ("", "the task has no title"),
    ("---\ntitle: [oops\n---\n", "YAML syntax error"),
    ("---\ntitle: x\n", "no closing '---' line"),
    ("---\nid: other\ntitle: x\n---\n", "id 'other' does not match the file name 't1.md'"),
    ("---\ntitle: x\nmax_attempts: zero\n---\n", "must be a whole number, got 'zero'"),
    ("---\ntitle: x\ndepends_on: [t1]\n---\n", "a task cannot depend on itself"),
    ("a\x00b", "is a binary file"),
])
def test_bad_task_files_say_what_and_where(text, message):
    with pytest.raises(TaskFileError) as caught:
        parse(text)
    assert message in str(caught.value)


def test_untrusted_sources_cannot_set_runtime_fields():
    with pytest.raises(TaskFileError, match="'attempts' is set by the orchestrator"):
        parse("---\ntitle: x\nattempts: 0\n---\n", trusted=False)


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a/b", "", "-rf", ".hidden", "a..b", "x.lock", "CON",
                                 "nul.txt", "a" * 101, "a\x00b", "sp ace"])
def test_ids_that_are_not_safe_as_paths_or_branches(bad):
    assert taskfmt.id_problem(bad)


@pytest.mark.parametrize("good", ["T012", "fix-login", "a.b_c-1", "TASK-030"])
def test_good_ids(good):
    assert taskfmt.id_problem(good) is None
