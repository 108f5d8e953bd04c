"""Entry point `python -m orchestrator.runner <attempt dir>`: kept at this path because the
launcher starts runners by it, ps and `pkill -f` show it, and a runner started before an
upgrade must find it. The runner itself lives in orchestrator.tick.runner."""

import sys

from orchestrator.tick.runner import entry

if __name__ == "__main__":
    sys.exit(entry())
