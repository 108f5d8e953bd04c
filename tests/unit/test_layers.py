"""The package's layers, checked from the source: no module imports one of a higher layer, and the
modules import each other without a circle. docs/ARCHITECTURE.md draws the same table."""

from __future__ import annotations

import ast
from pathlib import Path

import orchestrator

PACKAGE = Path(orchestrator.__file__).parent

# Lowest first. Folders on one floor are siblings: they may not import each other either.
LAYERS: list[set[str]] = [
    {"base"},
    {"formats"},
    {"store", "git", "process"},
    {"flow"},
    {"tick"},
    {"plans", "observe"},
    {"api"},  # api.py and the package's __init__ (the public facade)
    {"web"},  # the dashboard's server
    {"cli"},  # the command line (its `dashboard` command starts web/)
    {"shims"},  # runner.py, forkserver.py, __main__.py: entry points kept for runners alive during an upgrade
]
SHIMS = {"runner", "forkserver", "__main__"}
# Imports inside functions, allowed only where start-up time needs them (each says why in the code).
LAZY_IMPORTS_ALLOWED = {"orchestrator.__init__", "orchestrator.cli.entry", "orchestrator.cli.main",
                        "orchestrator.cli.commands"}


def room(module: str) -> str:
    """The folder (room) of a module name: orchestrator.store.queue -> store."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("__init__", "api"):
        return "api"
    return "shims" if parts[1] in SHIMS else parts[1]


def floor(room_name: str) -> int:
    return next(i for i, rooms in enumerate(LAYERS) if room_name in rooms)


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(("orchestrator", *path.relative_to(PACKAGE).with_suffix("").parts))
        found[name] = ast.parse(path.read_text(), str(path))
    return found


def imports(tree: ast.Module, *, top_level: bool) -> set[str]:
    """The orchestrator modules a module imports (at module level, or only inside functions)."""
    nodes = tree.body if top_level else [n for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                                         for n in ast.walk(f)]
    if top_level:
        nodes = [n for stmt in nodes for n in ast.walk(stmt) if not isinstance(stmt, (ast.FunctionDef, ast.ClassDef))]
    names = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("orchestrator"):
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("orchestrator"))
    return names


def resolve(name: str, known: dict[str, ast.Module]) -> str | None:
    """The module an imported name lives in (`from orchestrator.base import log` names a module)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    if not name:
        return None
    return name or None


def graph(*, with_lazy: bool = False) -> dict[str, set[str]]:
    """Module -> the modules it imports (at module level; with_lazy: inside functions too)."""
    known = modules()
    aliases = {name.removesuffix(".__init__"): name for name in known if name.endswith(".__init__")}
    known_names = {**known, **{a: known[n] for a, n in aliases.items()}}
    edges: dict[str, set[str]] = {}
    for name, tree in known.items():
        names = imports(tree, top_level=True) | (imports(tree, top_level=False) if with_lazy else set())
        targets = {resolve(i, known_names) for i in names}
        edges[name] = {aliases.get(t, t) for t in targets if t and aliases.get(t, t) != name}
    return edges


def test_every_room_is_on_a_floor():
    rooms = {room(name) for name in modules()}
    assert rooms <= set().union(*LAYERS), f"rooms without a floor: {rooms - set().union(*LAYERS)}"


def test_no_module_imports_from_a_higher_floor_or_a_sibling_room():
    wrong = []
    for name, targets in graph(with_lazy=True).items():
        for target in targets:
            a, b = room(name), room(target)
            if a != b and floor(b) >= floor(a):
                wrong.append(f"{name} ({a}, floor {floor(a)}) imports {target} ({b}, floor {floor(b)})")
    assert not wrong, "\n".join(sorted(wrong))


def test_modules_import_each_other_without_a_circle():
    edges = graph()
    circles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                circles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert not circles, "\n".join(circles)


def test_imports_inside_functions_are_only_where_start_up_time_needs_them():
    lazy = {name for name, tree in modules().items()
            if imports(tree, top_level=False) and name not in LAZY_IMPORTS_ALLOWED}
    assert not lazy, f"in-function imports of orchestrator modules in: {sorted(lazy)}"


def test_the_check_sees_a_wrong_import(tmp_path):
    # The check itself can fail: a base module importing the tick is caught.
    tree = ast.parse("from orchestrator.tick.scheduler import Scheduler\n")
    assert imports(tree, top_level=True) == {"orchestrator.tick.scheduler", "orchestrator.tick.scheduler.Scheduler"}
    assert floor(room("orchestrator.tick.scheduler")) > floor(room("orchestrator.base.log"))
