import threading
import time
from pathlib import Path

import pytest

from orchestrator.process.wake import WakeListener, poke, wake_address, wake_path

pytestmark = pytest.mark.skipif(wake_address(Path("/x")) is None,
                                reason="the wake socket needs Linux's abstract namespace")


def test_a_poke_wakes_the_listener_at_once(tmp_path):
    woken = threading.Event()
    listener = WakeListener(tmp_path, woken.set)
    try:
        poke(tmp_path)
        assert woken.wait(10)
        assert not wake_path(tmp_path).exists()  # the socket carried it, not the file
    finally:
        listener.close()


def test_close_ends_the_listener_without_waiting_out_its_stop_check(tmp_path):
    # With a stop check of a minute, a close that relied on the receive timing out would take a minute.
    listener = WakeListener(tmp_path, lambda: None, stop_check=60)
    started = time.monotonic()
    listener.close()
    assert not listener._thread.is_alive()
    assert time.monotonic() - started < 30
    poke(tmp_path)  # nobody listens now: the poke goes to the file
    assert wake_path(tmp_path).read_bytes() == b"."
