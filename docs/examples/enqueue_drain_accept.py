"""Enqueue a task, run it to the end, and accept it onto the base branch: the public API only.

    python docs/examples/enqueue_drain_accept.py path/to/agents.yaml "Write the release notes"

Prints the task's id, where it ended and what the merge did; exits 1 when the agent did not
finish with work to review.
"""

from __future__ import annotations

import sys

from orchestrator import Orchestrator, OrchestratorError


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    config_path, title = argv[1], argv[2]
    try:
        with Orchestrator(config_path) as orch:
            task = orch.enqueue(title, body="Keep it short.", priority="P1")
            if not orch.drain(timeout=300):
                print(f"{task.id}: still running after 300 s", file=sys.stderr)
                return 1
            detail = orch.show(task.id)
            if detail.state != "provisional":
                print(f"{task.id}: ended in {detail.state}/: {detail.last_error}", file=sys.stderr)
                return 1
            decision = orch.accept(task.id, merge=True)
            print(f"{task.id}: {decision.state} ({decision.detail}); branch {orch.branch(task.id)}")
    except OrchestratorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
