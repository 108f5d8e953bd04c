"""docs/examples/enqueue_drain_accept.py, the public-API example, run as a user would run it."""

from __future__ import annotations

import subprocess
import sys

from tests.support import DOCS

EXAMPLE = DOCS / "examples" / "enqueue_drain_accept.py"


def test_the_api_example_enqueues_drains_and_merges(env):
    env.write_config([env.agent("impl-1")])
    out = subprocess.run([sys.executable, str(EXAMPLE), str(env.config_path), "Write the release notes"],
                         capture_output=True, text=True, timeout=300, cwd=env.root)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("write-the-release-notes: done (")
    assert env.state_of("write-the-release-notes") == "done"
    assert "write-the-release-notes-1.txt" in env.git("ls-tree", "--name-only", "main")
    source = EXAMPLE.read_text()
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert [i for i in imports if "orchestrator" in i] == ["from orchestrator import Orchestrator, OrchestratorError"]


def test_the_api_example_reports_a_failed_task(env):
    env.write_config([env.agent("impl-1", "fail.py")], max_attempts=1)
    out = subprocess.run([sys.executable, str(EXAMPLE), str(env.config_path), "Doomed"],
                         capture_output=True, text=True, timeout=300, cwd=env.root)
    assert out.returncode == 1 and "doomed: ended in failed/" in out.stderr
