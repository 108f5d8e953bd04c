"""render() writes the frontmatter of plain tasks itself (fast) and must write exactly what yaml.dump would."""

from datetime import UTC, datetime

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.formats import task as taskfmt

# Words that YAML reads as other types, and the characters that make a scalar need quotes or folding.
TRICKY = ["yes", "No", "on", "OFF", "true", "null", "~", "1.0", "0x1F", "12:30", "2026-01-02", "1e3", ".inf",
          "- item", "a: b", "a #b", "'quoted'", "it's", "a  b", "trailing ", " leading", "[x]", "{x}", "*x",
          "&x", "!x", "%x", "@x", "`x`", "x" * 120, "word " * 25, "émoji 🔴", "tab\tin", "line\nbreak", ""]
text = st.one_of(st.sampled_from(TRICKY), st.text(alphabet=st.characters(codec="utf-8"), max_size=90),
                 st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.,/()' :#-]{0,95}", fullmatch=True))


def slow_head(front):
    return yaml.dump(front, Dumper=taskfmt._DUMPER, sort_keys=False, allow_unicode=True, width=100)


@settings(max_examples=600, deadline=None)
@given(title=text, items=st.lists(text, max_size=3), number=st.integers(min_value=0, max_value=10**6))
def test_fast_frontmatter_is_what_yaml_dump_writes(title, items, number):
    front = {"id": "T0001", "title": title, "priority": "P1", "max_attempts": number}
    if items:
        front["depends_on"] = items
    fast = taskfmt._fast_head(front)
    if fast is not None:
        assert fast == slow_head(front)


def test_a_typical_imported_task_takes_the_fast_way_and_parses_back():
    task = taskfmt.Task(id="T0042", title="Implement piece 42 in src/area1/piece42.py", body="Body.\n",
                        priority="P1", depends_on=("T0040", "T0041"), estimate="2h",
                        created=datetime(2026, 12, 4, 18, 0, tzinfo=UTC))
    front = {"id": task.id, "title": task.title, "priority": "P1", "depends_on": ["T0040", "T0041"],
             "estimate": "2h", "created": "2026-12-04T18:00:00Z"}
    assert taskfmt._fast_head(front) is not None
    assert taskfmt.parse(taskfmt.render(task), file_id="T0042", source="x.md", trusted=True) == task
