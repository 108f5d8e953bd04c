"""The fork server and the wake socket: the two things that make a daemon's dispatch fast.

The fork server is a real process started by a real daemon; the tests prove that runners
forked from it run attempts, that it never outlives the daemon (stopped or killed), and that
a dead one costs nothing but speed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest

from orchestrator.process.wake import WakeListener, _send, poke, wake_path
from orchestrator.store.attempts import Runs
from orchestrator.tick.drain import drain
from orchestrator.tick.launcher import Launcher
from orchestrator.tick.prestart import start_fork_server
from orchestrator.tick.scheduler import Scheduler
from tests.support import processes_with

pytestmark = pytest.mark.timeout(120)


def fork_servers_of(pid: int) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(pid).children():
        try:
            if "orchestrator.forkserver" in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
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


def owner_of(env, task_id: str) -> dict:
    attempt = Runs(env.config.state_dir).latest(task_id)
    return json.loads((attempt.dir / "owner.json").read_text())


def test_the_daemon_forks_runners_that_run_attempts_and_its_server_leaves_with_it(env, daemon):
    env.write_config([env.agent("impl-1", max_concurrent=2)], max_running=2)
    daemon.start()
    env.wait_until(lambda: len(fork_servers_of(daemon.proc.pid)) == 1, what="the fork server")
    server = fork_servers_of(daemon.proc.pid)
    env.enqueue("t1")
    env.enqueue("t2")
    env.wait_until(lambda: env.state_of("t1") == env.state_of("t2") == "provisional", what="both tasks")
    assert owner_of(env, "t1")["forked"] and owner_of(env, "t2")["forked"]
    runner_pid = owner_of(env, "t1")["pid"]
    env.wait_until(lambda: not psutil.pid_exists(runner_pid), what="the forked runner reaped, not left a zombie")
    assert daemon.stop() == 0
    env.wait_until(lambda: all_gone(server), timeout=10, what="the fork server to leave with the daemon")


def test_the_daemon_adopts_the_fork_server_it_started_before_loading_the_package(env, daemon):
    """cli/entry.py starts it first (its working directory is /, a launcher's own would be the
    state directory); the daemon's runners are forked from that one, and no second one starts."""
    env.write_config([env.agent("impl-1")])
    daemon.start()
    env.wait_until(lambda: len(fork_servers_of(daemon.proc.pid)) == 1, what="the fork server")
    early = fork_servers_of(daemon.proc.pid)[0]
    assert early.cwd() == "/"
    env.enqueue("t1")
    env.wait_until(lambda: env.state_of("t1") == "provisional", what="the task")
    assert owner_of(env, "t1")["forked"]
    assert [p.pid for p in fork_servers_of(daemon.proc.pid)] == [early.pid]


def test_closing_lets_the_fork_server_go_without_waiting_for_it(tmp_path):
    """A drain's last step need not wait out the server's exit: the pipes close, the server
    (here one that lingers after end of file) goes its own way."""
    lingering = subprocess.Popen([sys.executable, "-c", "import sys, time; sys.stdin.read(); time.sleep(60)"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        launcher = Launcher(tmp_path, fork=True, server=lingering)
        launcher.close()
        assert lingering.stdin is not None and lingering.stdin.closed
        assert lingering.poll() is None  # close() returned with the server still there
    finally:
        lingering.kill()
        lingering.wait()


def test_a_fork_server_started_ahead_is_let_go_when_runners_are_not_forked(tmp_path):
    server = start_fork_server(tmp_path)
    Launcher(tmp_path, fork=False, server=server)
    wait_for(lambda: server.poll() is not None)  # its stdin closed: it ended
    assert server.returncode == 0


def test_the_fork_server_leaves_when_the_daemon_is_killed_and_runners_run_on(env, daemon):
    env.write_config([env.agent("impl-1", "slow.py", env={"SLEEP": "3"})])
    daemon.start()
    env.wait_until(lambda: len(fork_servers_of(daemon.proc.pid)) == 1, what="the fork server")
    server = fork_servers_of(daemon.proc.pid)
    env.enqueue("t1")
    env.wait_until(lambda: env.state_of("t1") == "claimed" and "started" in [e["event"] for e in env.events("t1")],
                   what="the runner to start the agent")
    runner_pid = owner_of(env, "t1")["pid"]
    assert owner_of(env, "t1")["forked"]
    assert runner_pid in [p.pid for p in processes_with("orchestrator.runner")]  # ps shows a runner as one
    daemon.stop(signal.SIGKILL)
    env.wait_until(lambda: all_gone(server), timeout=10, what="the fork server to see its pipe close")
    env.wait_until(lambda: env.state_of("t1") == "provisional", what="the orphaned runner to finish its task")


def test_a_dead_fork_server_costs_only_speed(env, daemon):
    env.write_config([env.agent("impl-1")])
    daemon.start()
    env.wait_until(lambda: len(fork_servers_of(daemon.proc.pid)) == 1, what="the fork server")
    for process in fork_servers_of(daemon.proc.pid):
        process.kill()
    env.enqueue("t1")
    env.wait_until(lambda: env.state_of("t1") == "provisional", what="the task")
    env.enqueue("t2")
    env.wait_until(lambda: env.state_of("t2") == "provisional", what="the next task, forked again")
    assert owner_of(env, "t2")["forked"]


def test_fresh_runners_when_fork_runners_is_off_or_for_a_single_tick(env, daemon):
    env.write_config([env.agent("impl-1")], fork_runners=False)
    daemon.start()
    env.enqueue("t1")
    env.wait_until(lambda: env.state_of("t1") == "provisional", what="the task")
    assert owner_of(env, "t1")["forked"] is False and not fork_servers_of(daemon.proc.pid)
    daemon.stop()
    env.write_config([env.agent("impl-1")])
    env.enqueue("t2")
    assert env.cli("--once").returncode == 0
    env.wait_until(lambda: env.state_of("t2") == "provisional", what="the task of the single tick")
    assert owner_of(env, "t2")["forked"] is False


def test_fresh_runners_of_a_daemon_do_not_pile_up_as_zombies(env, daemon):
    env.write_config([env.agent("impl-1")], fork_runners=False)
    daemon.start()
    for n in range(4):
        env.enqueue(f"t{n}")
    env.wait_until(lambda: all(env.state_of(f"t{n}") == "provisional" for n in range(4)), what="the tasks")

    def zombies() -> int:
        return sum(1 for c in psutil.Process(daemon.proc.pid).children() if c.status() == psutil.STATUS_ZOMBIE)
    # Each tick reaps the runners that have exited; the last one may wait for the next tick.
    env.wait_until(lambda: zombies() <= 1, timeout=10, what="finished runners reaped")


def test_a_drain_ends_when_its_last_runner_exits_not_at_its_next_poll(env):
    """A runner wakes the drain when it settles, then deletes the old worktree's files (here 3,000)
    and exits: the drain waits for that exit itself. Polling once a minute, it would otherwise
    sit out the minute."""
    for n in range(30):
        folder = env.repo / f"d{n}"
        folder.mkdir()
        for m in range(100):
            (folder / f"f{m}.txt").write_text(f"{n} {m}\n")
    env.git("add", ".")
    env.git("commit", "-q", "-m", "a tree worth deleting")
    env.write_config([env.agent("impl-1")])
    env.enqueue("t1")
    scheduler = Scheduler(env.config, long_lived=True)
    codes: list[int] = []
    drainer = threading.Thread(target=lambda: codes.append(drain(scheduler, 120, poll=60)), daemon=True)
    try:
        drainer.start()
        drainer.join(40)
        assert codes == [0], "the drain is still waiting for its poll"
        assert env.state_of("t1") == "provisional"
    finally:
        scheduler.close()


def test_a_forked_runner_writes_to_its_runner_log(tmp_path):
    """The hand-over itself: the runner gets the directory, its output goes to runner.log."""
    launcher = Launcher(tmp_path, fork=True)
    attempt_dir = tmp_path / "runs" / "x" / "1"
    attempt_dir.mkdir(parents=True)  # no spec.json: the runner says so in runner.log and exits 2
    try:
        ident = launcher.launch(attempt_dir)
        assert ident is not None
        wait_for(lambda: launcher.alive() == 0)
        assert "no spec.json" in (attempt_dir / "runner.log").read_text()
        assert launcher._server is not None and launcher._server.poll() is None  # forked, not fresh
    finally:
        launcher.close()


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def listening(tmp_path):
    """A wake socket listener for tmp_path, and the event it sets."""
    woken = threading.Event()
    listener = WakeListener(tmp_path, woken.set)
    if listener.sock is None:
        pytest.skip("no abstract unix sockets here: the wake file is the channel")
    yield listener, woken
    listener.close()


def test_poke_reaches_a_listening_daemon_over_the_socket_not_the_file(tmp_path, listening):
    listener, woken = listening
    poke(tmp_path)
    assert woken.wait(5)
    assert not wake_path(tmp_path).exists()
    listener.close()
    poke(tmp_path)  # nobody listens now: the file it is
    assert wake_path(tmp_path).read_bytes() == b"."


@pytest.mark.skipif(os.geteuid() != 0, reason="sending as another user needs root")
def test_the_wake_socket_ignores_other_users(tmp_path, listening):
    _, woken = listening
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
