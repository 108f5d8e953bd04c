"""Finding an attempt's processes: the one-pass scan against psutil's own view of the tree."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psutil

from orchestrator.process import tree
from tests.support import wait_until


def test_the_descendants_found_in_one_scan_are_psutils_children_and_marked_processes_finds_them():
    code = ("import subprocess, sys, time\n"
            "d = int(sys.argv[1])\n"
            "if d: subprocess.Popen([sys.executable, '-c', sys.argv[2], str(d - 1), sys.argv[2]])\n"
            "time.sleep(60)\n")
    top = subprocess.Popen([sys.executable, "-c", code, "2", code], start_new_session=True)
    try:
        wait_until(lambda: len(psutil.Process(top.pid).children(recursive=True)) == 2, timeout=20)
        processes = list(psutil.process_iter(["ppid", "create_time"]))
        expected = {p.pid for p in psutil.Process(top.pid).children(recursive=True)}
        assert tree._descendants(processes, top.pid) == expected and len(expected) == 2
        assert tree._descendants(processes, os.getpid()) >= expected | {top.pid}
        assert tree._descendants(processes, 2**22 + 12345) == set()  # no such process
        if os.path.exists(f"/proc/{top.pid}/task/{top.pid}/children"):  # the subreaper's way: the same tree
            assert set(tree._tree_from_children_files(top.pid)) == expected
        found = {p.pid for p in tree.marked_processes("no-such-token", tree_of=top.pid)}
        assert found == expected
        assert not tree.marked_processes("no-such-token", tree_of=top.pid, since=psutil.Process(top.pid).create_time()
                                         + 3600)  # all started before `since`
    finally:
        os.killpg(top.pid, signal.SIGKILL)
        top.wait(10)
