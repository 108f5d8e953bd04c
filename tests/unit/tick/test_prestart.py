"""Which command lines start their fork server before the package loads (tick/prestart.py)."""

from __future__ import annotations

import pytest

from orchestrator.tick.prestart import wants_fork_server


@pytest.mark.parametrize("argv", [["--drain"], ["--config", "a.yaml", "--daemon"], ["--drain", "--timeout", "60"],
                                  ["-v", "--daemon"]])
def test_a_long_lived_mode_wants_its_fork_server_at_once(argv):
    assert wants_fork_server(argv)


@pytest.mark.parametrize("argv", [[], ["--once"], ["status"], ["--drain", "--help"], ["-h", "--daemon"],
                                  ["--version", "--drain"], ["enqueue", "Title", "--", "--drain"]])
def test_other_command_lines_start_none(argv):
    assert not wants_fork_server(argv)
