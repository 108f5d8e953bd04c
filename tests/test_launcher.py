"""Warm runners and the wake socket: the two things that make a daemon's dispatch fast.

Warm runners are real processes started by a real daemon; the tests prove they run attempts,
never outlive the daemon (stopped or killed), and that a dead one costs nothing but speed.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import psutil
import pytest

from orchestrator.launcher import WARM_FLAG, Launcher
from orchestrator.runs import Runs
from orchestrator.wake import WakeListener, _send, poke, wake_path
from test_daemon import DaemonProcess

pytestmark = pytest.mark.timeout(120)


def warm_runners_of(pid: int) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(pid).children():
        try:
            if WARM_FLAG in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def all_gone(processes: list[psutil.Process]) -> bool:
    for process in processes:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
    return True


@pytest.fixture
def daemon(env):
    d = DaemonProcess(env)
    yield d
    d.stop()


def owner_of(env, task_id: str) -> dict:
    attempt = Runs(env.config.state_dir).latest(task_id)
    return json.loads((attempt.dir / "owner.json").read_text())


def test_the_daemon_keeps_warm_runners_that_run_attempts_and_leave_with_it(env, daemon):
    env.write_config([env.agent("impl-1", max_concurrent=2)], max_running=2, warm_runners=2)
    daemon.start()
    env.wait_until(lambda: len(warm_runners_of(daemon.proc.pid)) == 2, what="two warm runners")
    env.enqueue("t1")
    env.enqueue("t2")
    env.wait_until(lambda: env.state_of("t1") == env.state_of("t2") == "provisional", what="both tasks")
    assert owner_of(env, "t1")["warm"] and owner_of(env, "t2")["warm"]
    env.wait_until(lambda: len(warm_runners_of(daemon.proc.pid)) == 2, what="the stock refilled")
    waiting = warm_runners_of(daemon.proc.pid)
    assert daemon.stop() == 0
    env.wait_until(lambda: all_gone(waiting), timeout=10, what="the warm runners to leave with the daemon")


def test_warm_runners_leave_when_the_daemon_is_killed(env, daemon):
    env.write_config([env.agent("impl-1")], warm_runners=2)
    daemon.start()
    env.wait_until(lambda: len(warm_runners_of(daemon.proc.pid)) == 2, what="two warm runners")
    waiting = warm_runners_of(daemon.proc.pid)
    daemon.stop(signal.SIGKILL)
    env.wait_until(lambda: all_gone(waiting), timeout=10, what="the warm runners to see their pipe close")


def test_a_dead_warm_runner_costs_only_speed(env, daemon):
    env.write_config([env.agent("impl-1")], warm_runners=1)
    daemon.start()
    env.wait_until(lambda: len(warm_runners_of(daemon.proc.pid)) == 1, what="a warm runner")
    for process in warm_runners_of(daemon.proc.pid):
        process.kill()
    env.enqueue("t1")
    env.wait_until(lambda: env.state_of("t1") == "provisional", what="the task, run by a cold runner")
    assert owner_of(env, "t1")["warm"] is False


def test_no_warm_runners_when_set_to_zero_or_for_a_single_tick(env, daemon):
    env.write_config([env.agent("impl-1")], warm_runners=0)
    daemon.start()
    env.enqueue("t1")
    env.wait_until(lambda: env.state_of("t1") == "provisional", what="the task")
    assert owner_of(env, "t1")["warm"] is False and not warm_runners_of(daemon.proc.pid)
    daemon.stop()
    env.write_config([env.agent("impl-1")], warm_runners=2)
    env.enqueue("t2")
    assert env.cli("--once").returncode == 0
    env.wait_until(lambda: env.state_of("t2") == "provisional", what="the task of the single tick")
    assert owner_of(env, "t2")["warm"] is False


def test_a_launcher_hands_each_warm_runner_one_attempt(tmp_path):
    """The hand-over itself: the attempt directory arrives whole, output goes to runner.log."""
    launcher = Launcher(warm=1)
    launcher.refill(tmp_path)
    attempt_dir = tmp_path / "runs" / "x" / "1"
    attempt_dir.mkdir(parents=True)  # no spec.json: the runner says so in runner.log and exits 2
    child = launcher.launch(attempt_dir)
    assert child.wait(30) == 2
    assert "no spec.json" in (attempt_dir / "runner.log").read_text()
    launcher.refill(tmp_path)
    assert launcher.waiting == 1
    launcher.close()
    assert launcher.waiting == 0


def test_poke_reaches_a_listening_daemon_over_the_socket_not_the_file(tmp_path):
    woken = threading.Event()
    listener = WakeListener(tmp_path, woken.set)
    if listener.sock is None:
        pytest.skip("no abstract unix sockets here: the wake file is the channel")
    try:
        poke(tmp_path)
        assert woken.wait(5)
        assert not wake_path(tmp_path).exists()
    finally:
        listener.close()
    poke(tmp_path)  # nobody listens now: the file it is
    assert wake_path(tmp_path).read_bytes() == b"."


@pytest.mark.skipif(os.geteuid() != 0, reason="sending as another user needs root")
def test_the_wake_socket_ignores_other_users(tmp_path):
    woken = threading.Event()
    listener = WakeListener(tmp_path, woken.set)
    if listener.sock is None:
        pytest.skip("no abstract unix sockets here")
    try:
        pid = os.fork()
        if pid == 0:  # the child: become nobody, then poke as nobody
            try:
                os.setgid(65534)
                os.setuid(65534)
                os._exit(0 if _send(tmp_path) else 1)
            finally:
                os._exit(2)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0  # delivered...
        assert not woken.wait(1.5)  # ...and ignored
        poke(tmp_path)
        assert woken.wait(5)
    finally:
        listener.close()
