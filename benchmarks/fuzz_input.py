"""Fuzzing bad input at scale: 1,000 generated bad task files and 200 generated bad agents.yaml files.

    python benchmarks/fuzz_input.py                      # about a minute
    python benchmarks/fuzz_input.py --tasks 5000 --configs 1000 --seed 3

Task files (broken YAML, wrong types, binary, invalid UTF-8, huge, symlinks, bad names,
duplicates, runtime fields, YAML bombs, and valid ones mixed in) are dropped into incoming/
in batches while ticks run in separate processes; configs go through `validate` the way a
user would run it. Prints: tick and validate crashes (must be 0), tasks lost (0), bad files
not quarantined (0), quarantined files without a reason (0).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from common import ROOT, cores, make_config, make_repo

from orchestrator.store.queue import Queue

KEYS = ["title", "priority", "depends_on", "role", "agent", "id", "max_attempts", "created", "attempts",
        "retry_after", "parent", "bogus", "feedback"]
VALUES = [None, True, 3, -1, 10**30, "P9", "P1", "", "x" * 600, [], ["a", 1], {"a": 1}, "2026-13-45", "../etc",
          "$(touch /tmp/pwned)", "\x00", "日本語", 1.5]


def bad_task(rng: random.Random, n: int) -> tuple[str, bytes, bool]:
    """(file name, content, whether it should be accepted as a task)."""
    kind = rng.choice(["yaml", "yaml", "types", "binary", "utf8", "huge", "name", "bomb", "runtime",
                       "good", "nofront", "unclosed"])
    name = f"fz{n:05d}.md"
    if kind == "good":
        return name, f"---\ntitle: fine {n}\npriority: P{rng.randint(0, 3)}\n---\nok\n".encode(), True
    if kind == "yaml":
        return name, f"---\ntitle: [x\n{rng.choice(['a: b: c', '- -', '{'])}\n---\n".encode(), False
    if kind == "types":
        front = {k: rng.choice(VALUES) for k in rng.sample(KEYS, rng.randint(1, 4))}
        front.setdefault("title", rng.choice(VALUES))
        try:
            head = yaml.safe_dump(front, allow_unicode=True)
        except yaml.YAMLError:
            head = "title: 5\npriority: P7\n"
        return name, f"---\n{head}---\nbody\n".encode("utf-8", "surrogatepass"), None
    if kind == "binary":
        return name, bytes(rng.randrange(256) for _ in range(200)) + b"\x00", False
    if kind == "utf8":
        return name, b"---\ntitle: caf\xe9 \xff\xfe\n---\n", False
    if kind == "huge":
        return name, b"---\ntitle: big\n---\n" + b"x" * 1_100_000, False
    if kind == "name":
        return rng.choice([f"bad name{n}.md", f".hidden{n}.md", f"{'a' * 120}{n}.md", f"x{n}.txt", f"-rf{n}.md",
                           f"a..b{n}.md", f"x{n}.lock.md"]), b"---\ntitle: x\n---\n", False
    if kind == "bomb":
        lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + [
            f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]"
            for i in range(1, 9)]
        return name, ("---\ntitle: bomb\nx:\n  " + "\n  ".join(lines) + "\n---\n").encode(), False
    if kind == "runtime":
        return name, b"---\ntitle: sneaky\nattempts: 0\nlast_error: hi\n---\n", True  # trusted in the queue
    if kind == "nofront":
        return name, rng.choice([b"# A heading title\n\nbody\n", b"no heading at all\n"]), None
    return name, b"---\ntitle: unclosed\n", False


def bad_config(rng: random.Random, n: int) -> str:
    base = {"repo": ".", "agents": [{"name": "a", "command": ["echo", "{prompt_file}"]}]}
    mutation = rng.choice(["unknown", "type", "negative", "dup", "placeholder", "syntax", "tag", "bomb",
                           "empty", "agents-type", "command-type", "review"])
    if mutation == "syntax":
        return "agents: [\n  - name: a\n"
    if mutation == "tag":
        return "!!python/object/apply:os.system ['touch /tmp/pwned']\n"
    if mutation == "bomb":
        return "a: &a [1,1,1,1,1,1,1,1,1]\n" + "".join(
            f"b{i}: &b{i} [{', '.join(['*a' if i == 0 else f'*b{i - 1}'] * 9)}]\n" for i in range(9)) + "agents: []\n"
    if mutation == "empty":
        return ""
    data = json.loads(json.dumps(base))
    if mutation == "unknown":
        data[rng.choice(["max_runing", "tick_second", "agent"])] = 3
    elif mutation == "type":
        data[rng.choice(["max_running", "tick_seconds", "auto_commit"])] = rng.choice(["many", [1], {"a": 1}])
    elif mutation == "negative":
        data[rng.choice(["max_running", "max_attempts", "tick_seconds"])] = rng.choice([-1, 0, 10**12])
    elif mutation == "dup":
        data["agents"].append(dict(data["agents"][0]))
    elif mutation == "placeholder":
        data["agents"][0]["command"] = ["echo", "{nope}"]
    elif mutation == "agents-type":
        data["agents"] = rng.choice(["a", 5, {"name": "a"}])
    elif mutation == "command-type":
        data["agents"][0]["command"] = rng.choice([5, [], {"a": 1}, [True]])
    else:
        data["review"] = "sometimes"
    return yaml.safe_dump(data)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1300, help="files to generate (about 80 %% are bad)")
    parser.add_argument("--configs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="orch-fuzz-"))
    cfg = make_config(root, make_repo(root / "repo"), agents=[{"name": "a", "role": "nobody", "command": ["true"]}])
    queue = Queue(cfg.queue_dir, cfg.state_dir)
    queue.ensure_dirs()
    secret = root / "secret.txt"
    secret.write_text("do not read me")
    expected: dict[str, bool | None] = {}
    tick_crashes = 0
    for batch in range(0, args.tasks, 50):
        for n in range(batch, min(batch + 50, args.tasks)):
            if rng.random() < 0.03:
                name = f"link{n}.md"
                os.symlink(secret, cfg.queue_dir / "incoming" / name)
                expected[name] = False
                continue
            name, content, ok = bad_task(rng, n)
            (cfg.queue_dir / "incoming" / name).write_bytes(content)
            expected[name] = ok
        tick = subprocess.run([sys.executable, "-m", "orchestrator", "--config", str(cfg.path), "--once"],
                              capture_output=True, text=True, cwd=ROOT)
        tick_crashes += tick.returncode != 0
    incoming = {p.name for p in (cfg.queue_dir / "incoming").iterdir() if not p.name.startswith(".tmp-")}
    invalid = {p.name for p in (cfg.queue_dir / "invalid").iterdir() if not p.name.endswith(".why")}
    lost = [n for n in expected if n not in incoming and n not in invalid]
    wrongly_kept = [n for n in incoming if expected.get(n) is False]
    wrongly_quarantined = [n for n in invalid if expected.get(n) is True]
    no_reason = [n for n in invalid if not (cfg.queue_dir / "invalid" / (n + ".why")).read_text().strip()]
    config_crashes, config_refused = 0, 0
    for n in range(args.configs):
        path = root / f"cfg{n}" / "agents.yaml"
        path.parent.mkdir()
        path.write_text(bad_config(rng, n))
        done = subprocess.run([sys.executable, "-m", "orchestrator", "--config", str(path), "validate"],
                              capture_output=True, text=True, cwd=ROOT)
        config_refused += done.returncode in (1, 2)
        config_crashes += done.returncode not in (0, 1, 2) or "Traceback" in done.stderr or "unexpected" in done.stderr
    print(json.dumps({
        "machine": cores(), "task_files": len(expected), "bad_task_files": len(invalid),
        "tick_processes": (args.tasks + 49) // 50,
        "tick_crashes": tick_crashes, "tasks_lost": len(lost), "bad_files_not_quarantined": len(wrongly_kept),
        "good_files_quarantined": len(wrongly_quarantined), "quarantined": len(invalid),
        "quarantined_without_reason": len(no_reason), "accepted_as_tasks": len(incoming),
        "configs": args.configs, "config_crashes": config_crashes, "configs_refused_with_a_message": config_refused,
        "secret_read": "do not read me" in (cfg.state_dir / "events.jsonl").read_text(),
        "pwned_file_created": os.path.exists("/tmp/pwned"),
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
