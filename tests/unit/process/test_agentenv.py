"""The agent's environment and where its program is found."""

from __future__ import annotations

import fnmatch

from orchestrator.process.agentenv import NEVER, _matcher, agent_environment, resolve_program


def executable(path):
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def test_the_program_is_looked_up_on_the_path_the_agent_gets(tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    cli = executable(tools / "my-agent-cli-xyz")
    assert resolve_program("my-agent-cli-xyz", {"PATH": str(tools)}) == str(cli)
    assert resolve_program("my-agent-cli-xyz", {"PATH": "/usr/bin"}) is None
    assert resolve_program("./relative/x", {"PATH": ""}) == "./relative/x"  # the worktree's, checked elsewhere


def test_the_agent_gets_the_basics_its_passthrough_and_its_env_only():
    base = {"PATH": "/usr/bin", "HOME": "/home/me", "AWS_SECRET": "s3cr3t", "MY_TOKEN": "t", "PYTHONPATH": "/x",
            "ORCHESTRATOR_CRASH_AT": "here"}
    env = agent_environment(base, ("MY_*",), {"EXTRA": "1"}, {"ORCH_TASK_ID": "t1"})
    assert env == {"PATH": "/usr/bin", "HOME": "/home/me", "MY_TOKEN": "t", "EXTRA": "1", "ORCH_TASK_ID": "t1",
                   "PYTHONUNBUFFERED": "1"}  # Python agents print in order


def test_the_compiled_patterns_match_exactly_what_fnmatchcase_matches():
    patterns = ("PATH", "LC_*", "AWS_?EY", "X[AB]_*", "x[!a]y", "*TOKEN", "A.B", "ORCH_*", "")
    names = ["PATH", "PATHS", "path", "LC_ALL", "LC_", "lc_all", "AWS_KEY", "AWS_KKEY", "XA_1", "XC_1", "xby", "xay",
             "MY_TOKEN", "TOKEN_X", "A.B", "AxB", "ORCH_TASK", "ORCHX", "", "A\nB", "LC_\n"]
    for group in [patterns, NEVER, (), *((p,) for p in patterns)]:
        match = _matcher(tuple(group))
        for name in names:
            assert match(name) == any(fnmatch.fnmatchcase(name, p) for p in group), (group, name)
