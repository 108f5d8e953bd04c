"""Example agent that always fails, to show retries and failed/."""

import sys

print("Error: something went wrong in the experiment")
sys.exit(1)
