"""Frozen dataclass records to and from JSON-shaped dicts, driven by their type hints.

One pair of functions instead of a from_record per class listing which keys are tuples:
Paths become strings and back, tuples become lists and back, nested records nest. Unknown
keys are ignored (a newer writer's extra fields); a missing required field raises TypeError
(an older writer's record: the caller decides what that means).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def as_record(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_record(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [as_record(v) for v in value]
    if isinstance(value, dict):
        return {k: as_record(v) for k, v in value.items()}
    return value


def from_record(cls: type[T], record: dict) -> T:
    hints = _hints(cls)  # type: ignore[arg-type]
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in record:
            values[f.name] = _convert(hints[f.name], record[f.name])
    return cls(**values)


def prepare(*classes: type) -> None:
    """Work out now the type hints of these record classes and of every record they nest (cached
    from then on): a fork server does it once for all the runners it forks, instead of each of
    them evaluating every annotation again (~2 ms for a Spec)."""
    for cls in classes:
        if cls in _PREPARED:
            continue
        _PREPARED.add(cls)
        for hint in _hints(cls).values():
            prepare(*(h for h in (hint, *typing.get_args(hint)) if dataclasses.is_dataclass(h) and isinstance(h, type)))


_PREPARED: set[type] = set()


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(options[0], value) if len(options) == 1 else value
    if hint is Path:
        return Path(value)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return from_record(hint, value)  # type: ignore[arg-type]
    if origin is tuple and isinstance(value, (list, tuple)):
        args = typing.get_args(hint)
        inner = args[0] if args else Any
        return tuple(_convert(inner, v) for v in value)
    return value
