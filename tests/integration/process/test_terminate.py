"""tree.terminate: what an agent left running ends with it, at once when it obeys SIGTERM, by
SIGKILL after the grace when it does not."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from orchestrator.process import tree

pytestmark = pytest.mark.timeout(60)

# Two leftovers in the marked group: one ends on SIGTERM, one ignores it. Each says when it is ready.
LEFTOVER = """
import signal, sys, time
if sys.argv[1] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(600)
"""


def start_leftover(kind: str, token: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", LEFTOVER, kind], stdout=subprocess.PIPE, text=True,
                            env={tree.MARKER_VAR: token}, start_new_session=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def terminate_in_thread(token: str, grace: float) -> threading.Thread:
    thread = threading.Thread(target=tree.terminate, args=(token,), kwargs={"grace": grace}, daemon=True)
    thread.start()
    return thread


def test_a_leftover_that_obeys_sigterm_is_not_waited_for_through_the_grace():
    obeys = start_leftover("obeys", "tok-obeys")
    try:
        thread = terminate_in_thread("tok-obeys", grace=120)
        thread.join(30)  # woken at its exit, long before the grace of two minutes
        assert not thread.is_alive(), "terminate sat out the grace of a process that had ended"
        assert obeys.wait(5) == -15
    finally:
        obeys.kill()
        obeys.wait()


def test_a_leftover_that_ignores_sigterm_is_killed_after_the_grace():
    stubborn = start_leftover("stubborn", "tok-stubborn")
    try:
        thread = terminate_in_thread("tok-stubborn", grace=1.0)
        thread.join(30)
        assert not thread.is_alive()
        assert stubborn.wait(5) == -9
    finally:
        stubborn.kill()
        stubborn.wait()
