"""Entry point `python -m orchestrator.forkserver` (started by the launcher; kept at this path
for the same reasons as orchestrator.runner). The server lives in orchestrator.tick.forkserver."""

import sys

from orchestrator.tick.forkserver import serve

if __name__ == "__main__":
    sys.exit(serve())
