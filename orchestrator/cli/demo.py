"""`demo`: the whole path on a scratch repository with example agents that are plain scripts.

It builds a repository, two writer agents, a docs agent and an agent that always fails,
enqueues a handful of tasks (different priorities, one pinned, one that fails), drains
the queue and prints the board and the branches.
"""

from __future__ import annotations

import sys
import tempfile
import textwrap
from pathlib import Path

from orchestrator.base import log
from orchestrator.formats import config as configmod
from orchestrator.formats import task as taskfmt
from orchestrator.formats.layout import StateDir
from orchestrator.git.repo import Repo
from orchestrator.git.view import RepoView
from orchestrator.observe import views
from orchestrator.store.attempts import Runs
from orchestrator.store.backend import open_queue
from orchestrator.tick.drain import drain
from orchestrator.tick.scheduler import Scheduler

AGENT_SCRIPTS = Path(__file__).parent / "demo_agents"  # writer.py, failer.py

TASKS = [  # (title, priority, role, pinned agent)
    ("Add a README section on setup", "P1", "implement", None),
    ("Write the changelog entry", "P2", "implement", None),
    ("Fix the flaky login test", "P0", "implement", None),
    ("Document the API", "P2", "docs", "docs-bot"),
    ("Try the risky migration", "P3", "experiment", None),
]


def write_demo(root: Path) -> Path:
    """Create the scratch repository, agent scripts and agents.yaml under root; return the config path."""
    repo_dir = root / "repo"
    repo_dir.mkdir(parents=True)
    (repo_dir / "README.md").write_text("# Demo project\n")
    Repo.create(repo_dir)
    agents = AGENT_SCRIPTS
    py = sys.executable
    config = root / "agents.yaml"
    config.write_text(textwrap.dedent(f"""\
        repo: repo
        base_branch: main
        queue_dir: queue
        state_dir: state
        tick_seconds: 1
        max_running: 3
        max_attempts: 2
        retry_backoff_seconds: 0.2
        review: human
        agents:
          - name: writer-1
            command: ["{py}", "{agents / 'writer.py'}", "{{prompt_file}}"]
          - name: writer-2
            command: ["{py}", "{agents / 'writer.py'}", "{{prompt_file}}"]
          - name: docs-bot
            role: docs
            command: ["{py}", "{agents / 'writer.py'}", "{{prompt_file}}"]
          - name: experimenter
            role: experiment
            command: ["{py}", "{agents / 'failer.py'}"]
        """))
    return config


def run_demo(keep: Path | None = None) -> int:
    root = keep.absolute() if keep else Path(tempfile.mkdtemp(prefix="orchestrator-demo-"))
    config_path = write_demo(root)
    cfg = configmod.load(config_path)
    log.configure(StateDir(cfg.state_dir).log_file, to_terminal=False)
    queue = open_queue(cfg)
    queue.ensure_dirs()
    print(f"demo in {root}")
    for title, priority, role, agent in TASKS:
        task_id = title.lower().replace(" ", "-")[:32].strip("-")
        queue.enqueue(taskfmt.Task(id=task_id, title=title, body=f"Please: {title.lower()}.", priority=priority,
                                   role=role, agent=agent), actor="demo")
        print(f"  enqueued {task_id} ({priority}, role {role}{', pinned to ' + agent if agent else ''})")
    print("draining the queue ...")
    code = drain(Scheduler(cfg), timeout=120)
    print()
    print(views.render_status(views.status(cfg, queue)))
    print()
    print(views.render_list(views.list_tasks(queue, None, Runs(cfg.state_dir))))
    print()
    print(f"branches in {cfg.repo}:")
    with RepoView(cfg.repo) as view:
        for name in view.branches(cfg.branch_prefix):
            ahead = view.commits_ahead(name, cfg.base_branch)
            print(f"  {name}  ({ahead} commit{'s' if ahead != 1 else ''} beyond {cfg.base_branch})")
    print()
    print(f"try: python -m orchestrator --config {config_path} show fix-the-flaky-login-test")
    print(f"     python -m orchestrator --config {config_path} logs try-the-risky-migration")
    if not keep:
        print(f"(the demo directory {root} is left for you to look at; delete it when done)")
    return code


