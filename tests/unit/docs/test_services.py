"""The service definitions in docs/services are valid for their service managers."""

import plistlib
import re
import shutil
import subprocess

import pytest

from tests.support import DOCS

SERVICES = DOCS / "services"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed here")
def test_systemd_unit_verifies_cleanly():
    done = subprocess.run(["systemd-analyze", "verify", str(SERVICES / "orchestrator.service")],
                          capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr


def test_systemd_unit_keeps_agents_alive_across_restarts():
    text = (SERVICES / "orchestrator.service").read_text()
    assert "KillMode=process" in text and "--daemon" in text and "ExecReload=/bin/kill -HUP $MAINPID" in text


def test_launchd_plist_parses_and_runs_the_daemon():
    plist = plistlib.loads((SERVICES / "com.example.orchestrator.plist").read_bytes())
    assert plist["ProgramArguments"][-1] == "--daemon" and plist["AbandonProcessGroup"] is True
    assert plist["RunAtLoad"] is True and plist["StandardErrorPath"].endswith(".log")


def test_cron_line_has_five_time_fields_and_a_log():
    lines = [line for line in (SERVICES / "crontab").read_text().splitlines() if line and not line.startswith("#")]
    assert len(lines) == 1
    fields = lines[0].split(None, 5)
    field = r"(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*"
    assert all(re.fullmatch(field, f) for f in fields[:5]), fields[:5]
    assert "--once" in fields[5] and ">> .git/orchestrator/cron.log 2>&1" in fields[5]
