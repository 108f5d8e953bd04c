"""The demo's agents: plain scripts (run as files, not imported), used by `demo` and by the example
agents.yaml at the top of the repository."""
