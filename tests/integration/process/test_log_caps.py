"""What an agent prints and what the orchestrator logs stay within their sizes, losing nothing
that matters: agent.log keeps its start and its newest output; orchestrator.jsonl rotates while
several processes write to it, no line lost or split.

Issue "Nothing lost to the people and the agents around it", item 10 (agent.log, orchestrator.jsonl).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from orchestrator.process.supervise import LogCap
from orchestrator.store.attempts import Runs

MB = 1024 * 1024

# 50 MB of numbered lines as fast as it can, then a last line, then a commit; exits 0.
TALKER = textwrap.dedent("""
    import os, pathlib, subprocess, sys
    out = sys.stdout
    print("FIRST LINE", flush=True)
    pad = "x" * 90
    for n in range(500_000):
        out.write(f"line {n:07d} {pad}\\n")
    out.write("LAST LINE\\n")
    out.flush()
    pathlib.Path(os.environ["ORCH_TASK_ID"] + ".txt").write_text("work\\n")
    subprocess.run(["git", "add", "-A"], check=True)
    subprocess.run(["git", "commit", "-q", "-m", "work"], check=True)
""")


def test_an_agent_that_prints_50_mb_keeps_a_capped_log_and_succeeds(env):
    (env.agents_dir / "talker.py").write_text(TALKER)
    env.write_config([{"name": "impl-1", "command": [sys.executable, str(env.agents_dir / "talker.py")]}],
                     max_attempts=1, max_log_mb=1)
    env.enqueue("t1")
    env.drain(timeout=120)
    assert env.state_of("t1") == "provisional", env.read("t1").last_error  # it was not stopped for talking
    log = Runs(env.config.state_dir).latest("t1").log_path
    size = log.stat().st_size
    assert size <= 1 * MB + 64 * 1024, f"agent.log is {size} bytes"  # before: 50 MB
    text = log.read_text()
    assert text.startswith("FIRST LINE\n")
    assert text.endswith("line 0499999 " + "x" * 90 + "\nLAST LINE\n")  # the newest output, whole
    assert "bytes cut by max_log_mb" in text
    kept = [line for line in text.splitlines() if line.startswith("line ")]
    numbers = [int(line.split()[1]) for line in kept if len(line) == 103]
    tail = numbers[numbers.index(max(numbers)) - 1000:]
    assert tail == list(range(tail[0], 500_000)), "the newest output is not contiguous"


def test_the_log_cap_cuts_the_same_way_without_collapse_range(tmp_path):
    """The fallback for filesystems without fallocate(COLLAPSE_RANGE): copy down and truncate."""
    for collapse in (True, False):
        path = tmp_path / f"agent-{collapse}.log"
        with open(path, "ab") as out:
            cap = LogCap(path, os.fstat(out.fileno()), 1 * MB, collapse=collapse)
            for round_ in range(3):
                out.write(b"".join(b"round %d line %07d\n" % (round_, n) for n in range(200_000)))
                out.flush()
                cap.check()
        text = path.read_text()
        assert path.stat().st_size <= 1 * MB
        assert text.startswith("round 0 line 0000000\n") and text.endswith("round 2 line 0199999\n")
        cut = [line for line in text.splitlines() if "bytes cut by max_log_mb" in line]
        assert len(cut) == 1, cut  # one marker, however many cuts
        assert int(cut[0].split()[1]) + len(text.encode()) - len(cut[0]) - 2 == 3 * 200_000 * 21


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from orchestrator.base import log
    path, name, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    log.configure(path, to_terminal=False, max_bytes=32 * 1024, keep=1000)
    logger = log.get("test")
    for n in range(count):
        logger.info("line", writer=name, n=n, pad="y" * (n % 300))
""")


def test_the_structured_log_rotates_while_three_processes_write_and_no_line_is_lost(tmp_path):
    path = tmp_path / "logs" / "orchestrator.jsonl"
    count = 4000
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name, str(count)],
                                stderr=subprocess.PIPE, text=True) for name in ("a", "b", "c")]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err  # before: configure() had no rotation (max_bytes, keep)
    files = [path] + sorted(path.parent.glob("orchestrator.jsonl.[0-9]*"))
    assert len(files) > 5, "the log was never rotated"
    # Past the limit by what the other writers append while one rotates: a few lines.
    assert all(f.stat().st_size <= 48 * 1024 for f in files[1:]), "a generation grew far past the limit"
    seen: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    for f in files:
        for line in f.read_text().splitlines():
            record = json.loads(line)  # a split or interleaved line fails here
            seen[record["writer"]].append(record["n"])
    assert {name: sorted(numbers) == list(range(count)) for name, numbers in seen.items()} == \
        {"a": True, "b": True, "c": True}, "lines were lost"


def test_rotation_keeps_only_the_newest_generations(tmp_path):
    path = tmp_path / "orchestrator.jsonl"
    code = WRITER.replace("keep=1000", "keep=3")
    subprocess.run([sys.executable, "-c", code, str(path), "a", "3000"], check=True, timeout=120)
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith("orchestrator.jsonl.")
                  and p.name[-1].isdigit()) == ["orchestrator.jsonl.1", "orchestrator.jsonl.2",
                                                  "orchestrator.jsonl.3"]
    newest = [json.loads(line)["n"] for line in path.read_text().splitlines()]
    assert newest[-1] == 2999
    oldest = [json.loads(line)["n"] for line in Path(f"{path}.3").read_text().splitlines()]
    assert oldest and oldest[-1] < newest[0]
