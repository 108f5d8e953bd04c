import multiprocessing
import os
import shutil
import threading
from pathlib import Path

import pytest

from orchestrator.base.errors import StateError
from orchestrator.base.locks import FileLock
from orchestrator.formats import task as taskfmt
from orchestrator.formats.task import Task
from orchestrator.store.index import TaskIndex
from orchestrator.store.queue import Queue
from tests.support import wait_until, waits_for_lock


@pytest.fixture
def queue(tmp_path):
    q = Queue(tmp_path / "queue", tmp_path / "state")
    q.ensure_dirs()
    return q


def test_enqueue_publishes_a_complete_file_and_refuses_duplicates(queue):
    queue.enqueue(Task(id="t1", title="One"))
    assert queue.locate("t1") == "incoming"
    text = queue.path("incoming", "t1").read_text()
    assert text.startswith("---\nid: t1\ntitle: One\n")
    assert not [p for p in queue.dir("incoming").iterdir() if p.name.startswith(".tmp-")]
    queue.transition("t1", "incoming", "failed", actor="test")
    with pytest.raises(StateError, match="already exists in failed/"):
        queue.enqueue(Task(id="t1", title="Again"))


def test_transition_moves_once_and_reports_a_lost_race(queue):
    queue.enqueue(Task(id="t1", title="One"))
    moved = queue.transition("t1", "incoming", "blocked", actor="test", updates={"blocked_reason": "why"})
    assert moved.blocked_reason == "why" and queue.locate("t1") == "blocked"
    assert queue.transition("t1", "incoming", "failed", actor="test") is None
    assert queue.locate("t1") == "blocked"


def test_held_task_locks_keep_others_out_and_let_the_holders_own_moves_through(queue):
    # The merge queue holds a batch's locks from its look into landing/ until the tasks are in done/;
    # its own transitions must not wait for the lock it holds (flock would: another open of the file).
    for name in ("t1", "t2"):
        queue.enqueue(Task(id=name, title=name))
    moved: list = []
    with queue.task_locks(["t2", "t1"]):
        for name in ("t1", "t2"):
            with FileLock(queue.locks / f"{name}.lock").attempt() as other:
                assert not other  # anyone else (another process, another thread) waits
        mover = threading.Thread(target=lambda: moved.append(queue.transition("t1", "incoming", "failed",
                                                                                actor="test")))
        mover.start()
        wait_until(lambda: waits_for_lock(os.getpid(), queue.locks / "t1.lock"), what="the thread to wait for t1")
        assert queue.locate("t1") == "incoming"  # another thread of ours waits too
        assert queue.transition("t2", "incoming", "failed", actor="test") is not None  # the holder goes on
    mover.join(10)
    assert moved and moved[0] is not None and queue.locate("t1") == "failed"
    with FileLock(queue.locks / "t1.lock").attempt() as free:
        assert free  # let go at the end


def test_a_transition_repeated_after_a_crash_gives_the_same_file(queue):
    queue.enqueue(Task(id="t1", title="One"))
    # The first try rewrote the file and died before the rename: the file is still in incoming/.
    path = queue.path("incoming", "t1")
    updated = queue.read_file(path).with_updates(attempts=2, last_error="x")
    path.write_text(taskfmt.render(updated))
    queue.transition("t1", "incoming", "failed", actor="test", updates={"attempts": 2, "last_error": "x"})
    assert queue.read("t1")[1].attempts == 2


def _claim_all(args):
    queue_dir, state_dir, ids = args
    queue = Queue(Path(queue_dir), Path(state_dir))
    won, empty_handed = [], 0
    while True:
        names = sorted(n[:-3] for n in os.listdir(queue.dir("incoming")) if n.endswith(".md"))
        if not names:
            return won, empty_handed
        got = None
        for task_id in names:
            if queue.claim(task_id, lambda t, fence: None):
                got = task_id
                break
        if got:
            won.append(got)
        else:
            empty_handed += 1


def test_concurrent_claims_from_eight_processes_are_exact(queue, tmp_path):
    ids = [f"t{n:04d}" for n in range(400)]
    for task_id in ids:
        queue.enqueue(Task(id=task_id, title=task_id))
    with multiprocessing.get_context("fork").Pool(8) as pool:
        results = pool.map(_claim_all, [(str(queue.root), str(queue.state_dir), ids)] * 8)
    claimed = [task_id for won, _ in results for task_id in won]
    assert len(claimed) == len(set(claimed)) == 400
    assert sorted(claimed) == ids
    assert queue.count("claimed") == 400 and queue.count("incoming") == 0


def test_index_reparses_only_changed_files_and_persists(queue, tmp_path):
    for n in range(3):
        queue.enqueue(Task(id=f"t{n}", title=f"T{n}"))
    store = tmp_path / "state" / "index.json"
    index = TaskIndex(queue, store)
    entries, broken = index.scan("incoming")
    assert sorted(e.id for e in entries) == ["t0", "t1", "t2"] and broken == []
    index.save()
    # A changed file is read again; a broken one is reported, not fatal.
    queue.path("incoming", "t1").write_text("---\ntitle: T1\npriority: P0\n---\n")
    queue.path("incoming", "t2").write_text("---\ntitle: [\n---\n")
    again = TaskIndex(queue, store)
    entries, broken = again.scan("incoming")
    assert {e.id: e.priority for e in entries} == {"t0": "P2", "t1": "P0"}
    assert broken and broken[0][0] == "t2.md" and "YAML syntax error" in broken[0][1]


def test_a_move_refuses_a_state_directory_replaced_by_a_link(queue, tmp_path):
    queue.enqueue(Task(id="t1", title="One"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    queue.dir("done").rmdir()
    queue.dir("done").symlink_to(elsewhere)  # planted after the tick looked
    with pytest.raises(StateError, match="is not a plain directory"):
        queue.transition("t1", "incoming", "done", actor="person")
    assert queue.locate("t1") == "incoming" and list(elsewhere.iterdir()) == []


def test_a_state_directory_on_another_filesystem_is_refused_before_anything_moves(tmp_path):
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem here (/dev/shm shares the one tmp_path is on)")
    state = shm / f"orch-test-{os.getpid()}-{tmp_path.name}"
    try:
        queue = Queue(tmp_path / "queue", state)
        with pytest.raises(StateError, match=r"on another filesystem than .*put queue_dir and state_dir on one"):
            queue.ensure_dirs()
    finally:
        shutil.rmtree(state, ignore_errors=True)
