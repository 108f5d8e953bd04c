"""What an import understood and did, as lines for a person or one JSON document (docs/IMPORT.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.plans import order as ordering

ACTION_WORDS = {"create": "new", "update": "updated", "unchanged": "unchanged", "tick": "ticked",
                "left_alone": "left alone"}
SHOWN_TASKS = 400  # a longer plan's list is cut in the text (the JSON has all)


@dataclass
class ImportReport:
    data: dict[str, Any]

    @classmethod
    def of(cls, built, changes, *, dry_run: bool) -> ImportReport:
        plan, order = built.plan, built.order
        keys = [item.key for item, _ in built.tasks]
        ids = built.ids
        path = [ids[k] for k in ordering.critical_path(order.deps, keys)]
        action = {c.item.key: c for c in changes.items}
        tasks = []
        for item, task in built.tasks:
            change = action[item.key]
            tasks.append({"id": change.task.id, "title": change.task.title if change.action != "update"
                          else task.title, "priority": task.priority, "estimate": task.estimate,
                          "depends_on": list(task.depends_on if change.action != "left_alone"
                                             else change.task.depends_on),
                          "line": item.line, "section": " › ".join(built.sections[item.key]),
                          "action": change.action, "state": change.state})
        sync = {name: [c.task.id for c in changes.of(name)] for name in ACTION_WORDS}
        data = {
            "plan": plan.source, "dry_run": dry_run, "tasks": tasks,
            "counts": {"tasks": len(tasks), "done": len(built.done), "skipped": plan.skipped,
                       "stated_edges": order.stated, "implied_edges": order.implied,
                       "warnings": len(plan.warnings)},
            "critical_path": {"length": len(path), "tasks": path},
            "max_parallelism": ordering.max_parallelism(order.deps, keys),
            "warnings": [{"line": line, "message": message} for line, message in plan.warnings],
            "sync": {"created": sync["create"], "updated": sync["update"], "unchanged": sync["unchanged"],
                     "ticked": sync["tick"], "left_alone": sync["left_alone"],
                     "removed": [{"id": task_id, "state": state} for task_id, state in changes.removed]},
        }
        return cls(data)

    def to_json(self) -> dict[str, Any]:
        return self.data

    def lines(self) -> list[str]:
        d = self.data
        counts = d["counts"]
        out = [f"plan {d['plan']}: {counts['tasks']} tasks, {counts['done']} done in the plan, "
               f"{counts['stated_edges']} stated and {counts['implied_edges']} implied dependencies, "
               f"{counts['warnings']} warnings"]
        cp = d["critical_path"]
        out.append(f"critical path: {cp['length']} tasks" + (f" ({' -> '.join(cp['tasks'][:12])}"
                                                             f"{' ...' if cp['length'] > 12 else ''})"
                                                             if cp["tasks"] else ""))
        out.append(f"max parallelism: {d['max_parallelism']} tasks at once")
        for warning in d["warnings"]:
            out.append(f"warning: {d['plan']}:{warning['line']}: {warning['message']}")
        out += ["", "tasks (task <- what it waits for):"]
        for task in d["tasks"][:SHOWN_TASKS]:
            waits = f" <- {', '.join(task['depends_on'])}" if task["depends_on"] else ""
            note = "" if task["action"] == "create" else f"  [{ACTION_WORDS[task['action']]}" + (
                f", in {task['state']}/]" if task["state"] else "]")
            out.append(f"  {task['id']:<14} {task['priority']} {task['title'][:70]}{waits}{note}")
        if len(d["tasks"]) > SHOWN_TASKS:
            out.append(f"  ... and {len(d['tasks']) - SHOWN_TASKS} more (--json lists them all)")
        sync = d["sync"]
        for name, word in (("ticked", "ticked [x] in the plan, finished"), ("left_alone",
                           "changed in the plan but running or finished: left alone")):
            if sync[name]:
                out.append(f"{word}: {', '.join(sync[name])}")
        if sync["removed"]:
            out.append("no longer in the plan (left as they are): "
                       + ", ".join(f"{r['id']} ({r['state'] or 'gone'})" for r in sync["removed"]))
        if d["dry_run"]:
            out.append("\n(dry run: nothing was enqueued or changed)")
        else:
            out.append(f"\nenqueued {len(sync['created'])} tasks, updated {len(sync['updated'])}, "
                       f"{len(sync['unchanged'])} unchanged")
        return out

    def text(self) -> str:
        return "\n".join(self.lines())
