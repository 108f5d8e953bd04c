"""Example agent: reads its prompt and writes a note into the worktree; the orchestrator commits it."""

import os
import pathlib
import sys
import time

prompt = pathlib.Path(sys.argv[1]).read_text()
time.sleep(0.3)  # pretend to think
notes = pathlib.Path("notes")
notes.mkdir(exist_ok=True)
(notes / (os.environ["ORCH_TASK_ID"] + ".md")).write_text(prompt)
print(f"wrote notes/{os.environ['ORCH_TASK_ID']}.md as {os.environ['ORCH_AGENT']}, attempt {os.environ['ORCH_ATTEMPT']}")
