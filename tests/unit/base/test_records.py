"""Records to JSON-shaped dicts and back (base/records.py), and their hints worked out ahead."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.base import records


@dataclass(frozen=True)
class Leaf:
    where: Path
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Branch:
    leaf: Leaf
    maybe: Leaf | None = None
    leaves: tuple[Leaf, ...] = field(default_factory=tuple)


def test_a_record_comes_back_as_it_went_with_paths_tuples_and_nested_records():
    value = Branch(Leaf(Path("/a"), ("x",)), None, (Leaf(Path("b")),))
    assert records.from_record(Branch, records.as_record(value)) == value


def test_prepare_works_out_the_hints_of_a_record_and_of_those_it_nests():
    records._hints.cache_clear()
    records._PREPARED.clear()
    records.prepare(Branch)
    assert {Branch, Leaf} <= records._PREPARED
    before = records._hints.cache_info().misses
    records.from_record(Branch, {"leaf": {"where": "/a"}, "leaves": [{"where": "b"}]})
    assert records._hints.cache_info().misses == before  # nothing left to work out
