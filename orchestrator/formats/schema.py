"""Parsing YAML mappings into typed values with errors that say where and how to fix.

config.py and task.py declare their fields here once (name, type, default, check); this
module turns a YAML mapping into a dict of checked values or raises an error naming the
file, the line, the key and the fix. Unknown keys are errors, with the nearest known key
suggested.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

# A YAML document with more nodes than this is refused: aliases let a few lines expand
# into billions of nodes (the "billion laughs"), and no config or task file needs this many.
MAX_YAML_NODES = 20_000

Lines = dict[tuple, int]


class SchemaError(Exception):
    """One problem in one file: the caller wraps it into ConfigError or TaskFileError."""

    def __init__(self, where: str, problem: str, fix: str = ""):
        self.where = where
        self.problem = problem
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        text = f"{self.where}: {self.problem}"
        return f"{text} ({self.fix})" if self.fix else text


class SchemaErrors(SchemaError):
    """Every problem found in one file, in the order of the file: a person fixes them in one go."""

    def __init__(self, errors: list[SchemaError]):
        self.errors = errors
        first = errors[0]
        super().__init__(first.where, first.problem, first.fix)

    def render(self) -> str:
        return "\n".join(error.render() for error in getattr(self, "errors", [])) or super().render()


def raise_all(problems: list[SchemaError]) -> None:
    """Raise what was collected: one error as itself, several together."""
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise SchemaErrors(problems)


# libyaml's parser (when PyYAML has it, as its wheels do) reads the same YAML with the same marks ~10x
# faster: every tick and every import reads task files.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str, source: str, line_offset: int = 0) -> tuple[Any, Lines]:
    """Parse YAML safely; return the data and a map from key paths to 1-based line numbers."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: Lines = {}
        _count_and_map(node, (), lines, [0])
        data = loader.construct_document(node)
    except SchemaError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1 + line_offset}:{mark.column + 1}" if mark else source
        raise SchemaError(where, f"YAML syntax error: {exc.problem or exc.context}", "fix the YAML syntax there") from exc
    except yaml.YAMLError as exc:
        raise SchemaError(source, f"YAML error: {exc}", "fix the YAML syntax") from exc
    finally:
        loader.dispose()
    return data, lines


def _count_and_map(node: yaml.Node, path: tuple, lines: Lines, count: list[int]) -> None:
    count[0] += 1
    if count[0] > MAX_YAML_NODES:
        raise SchemaError("", f"YAML document too large or too deeply aliased (over {MAX_YAML_NODES} nodes)",
                          "remove the anchors and aliases; a config or task file never needs this many values")
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
            lines[path + (key,)] = key_node.start_mark.line + 1
            _count_and_map(value_node, path + (key,), lines, count)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _count_and_map(item, path + (index,), lines, count)


@dataclass(frozen=True)
class Field:
    """One key of a mapping: its type, its default (the only place the default lives) and checks."""

    name: str
    kind: str  # str | int | float | bool | strlist | strmap | any
    default: Any = None
    required: bool = False
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    check: Callable[[Any], str | None] | None = None  # returns a problem, or None
    help: str = ""


@dataclass
class Located:
    """Where a mapping came from: file name, key path prefix, and the line map."""

    source: str
    lines: Lines = field(default_factory=dict)
    prefix: tuple = ()
    line_offset: int = 0

    def at(self, *keys: Any) -> str:
        path = self.prefix + keys
        line = None
        for cut in range(len(path), -1, -1):
            if path[:cut] in self.lines:
                line = self.lines[path[:cut]]
                break
        dotted = ".".join(str(k) if not isinstance(k, int) else f"[{k}]" for k in path).replace(".[", "[")
        place = f"{self.source}:{line + self.line_offset}" if line is not None else self.source
        return f"{place}: key '{dotted}'" if dotted else place

    def child(self, *keys: Any) -> Located:
        return Located(self.source, self.lines, self.prefix + keys, self.line_offset)


def parse_fields(data: Any, fields: list[Field], where: Located, what: str,
                 problems: list[SchemaError] | None = None) -> dict[str, Any]:
    """Check `data` against `fields` and return {name: value}, defaults filled in.

    With `problems`, every problem is added there (the key keeps its default) and parsing goes on,
    so a file's problems are reported together; without it the first one is raised."""
    if not isinstance(data, Mapping):
        got = type(data).__name__ if data is not None else "nothing"
        raise SchemaError(where.at(), f"{what} must be a mapping of keys to values, got {got}",
                          "write it as 'key: value' lines")
    found: list[SchemaError] = []
    known = {f.name: f for f in fields}
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
            fix = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(sorted(known))}"
            found.append(SchemaError(where.at(key), f"unknown key '{key}' in {what}", fix))
    values: dict[str, Any] = {}
    for f in fields:
        values[f.name] = f.default
        if f.name not in data or (data[f.name] is None and not f.required):
            if f.required:
                found.append(SchemaError(where.at(), f"{what} is missing the required key '{f.name}'",
                                         f"add '{f.name}: ...'" + (f" ({f.help})" if f.help else "")))
            continue
        try:
            values[f.name] = check_value(data[f.name], f, where)
        except SchemaError as exc:
            found.append(exc)
    if problems is None:
        raise_all(found)
    else:
        problems.extend(found)
    return values


def check_value(value: Any, f: Field, where: Located) -> Any:
    value = _coerce(value, f, where)
    if f.choices and value not in f.choices:
        raise SchemaError(where.at(f.name), f"'{value}' is not one of {', '.join(map(str, f.choices))}",
                          f"use one of {', '.join(map(str, f.choices))}")
    if f.kind in ("int", "float"):
        if f.minimum is not None and value < f.minimum:
            raise SchemaError(where.at(f.name), f"{value} is below the minimum {f.minimum:g}", f"use a value >= {f.minimum:g}")
        if f.maximum is not None and value > f.maximum:
            raise SchemaError(where.at(f.name), f"{value} is above the maximum {f.maximum:g}", f"use a value <= {f.maximum:g}")
    if f.check is not None:
        problem = f.check(value)
        if problem:
            raise SchemaError(where.at(f.name), problem)
    return value


_KIND_WORDS = {"str": "a string", "int": "a whole number", "float": "a number", "bool": "true or false",
               "strlist": "a list of strings", "strmap": "a mapping of names to strings",
               "intlist": "a list of whole numbers", "command": "a command (a list of arguments or a string)"}


def _coerce(value: Any, f: Field, where: Located) -> Any:
    def wrong() -> SchemaError:
        shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
        return SchemaError(where.at(f.name), f"must be {_KIND_WORDS.get(f.kind, f.kind)}, got {shown}",
                           f"write '{f.name}' as {_KIND_WORDS.get(f.kind, f.kind)}")

    if f.kind == "any":
        return value
    if f.kind == "str":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise wrong()
        return str(value)
    if f.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong()
        return value
    if f.kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong()
        return float(value)
    if f.kind == "bool":
        if not isinstance(value, bool):
            raise wrong()
        return value
    if f.kind == "intlist":
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise wrong()
        return tuple(value)
    if f.kind == "command":
        if isinstance(value, str) or (isinstance(value, list) and value and all(
                isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value)):
            return value
        raise wrong()
    if f.kind == "strlist":
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
            raise wrong()
        return tuple(str(v) for v in value)
    if f.kind == "strmap":
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise wrong()
        out = {}
        for k, v in value.items():
            if isinstance(v, bool) or not isinstance(v, (str, int, float)):
                raise SchemaError(where.at(f.name, k), f"must be a string, got {v!r}", "quote the value")
            out[k] = str(v)
        return out
    raise AssertionError(f"unknown field kind {f.kind}")


