"""A full disk is an error with a clear message, never a lost or half-written task.

The queue and state directories live on a tiny tmpfs, filled up for real. Mounting needs
root; elsewhere the test skips and says why.
"""

import os
import subprocess

import pytest


@pytest.fixture
def tiny_fs(tmp_path):
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path):
    filler = path / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    return filler


def test_enqueue_and_tick_on_a_full_disk(env, tiny_fs):
    env.write_config([env.agent("impl-1")], queue_dir=str(tiny_fs / "queue"), state_dir=str(tiny_fs / "state"))
    assert env.cli("enqueue", "Before the disk filled", "--id", "early").returncode == 0
    filler = fill(tiny_fs)
    out = env.cli("enqueue", "After the disk filled", "--id", "late", "--body", "x" * 20000)
    assert out.returncode == 3
    assert "disk full" in out.stderr and "nothing was lost" in out.stderr and "Traceback" not in out.stderr
    assert env.state_of("late") is None and env.read("early").title == "Before the disk filled"
    tick = env.cli("--once")
    assert tick.returncode == 3 and "disk full" in tick.stderr
    assert env.state_of("early") == "incoming"  # not claimed half-way, not lost
    os.unlink(filler)
    env.drain()
    assert env.state_of("early") == "provisional"
