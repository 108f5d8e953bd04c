import subprocess
import textwrap

import pytest

from orchestrator.base.errors import ConfigError
from orchestrator.formats import config as configmod


def write(tmp_path, text):
    path = tmp_path / "agents.yaml"
    path.write_text(textwrap.dedent(text))
    return path


MINIMAL = """
    agents:
      - name: a
        command: my-agent --prompt {prompt_file}
"""


def test_defaults_live_in_one_place_and_paths_are_relative_to_the_file(repo):
    cfg = configmod.load(write(repo, MINIMAL))
    # Queue and state default to the repository's .git, out of reach of stash -u and clean -fdx.
    git_dir = repo / ".git" / "orchestrator"
    assert cfg.repo == repo and cfg.queue_dir == git_dir / "queue" and cfg.state_dir == git_dir / "state"
    assert (cfg.tick_seconds, cfg.max_running, cfg.max_attempts, cfg.review, cfg.branch_prefix) == (60, 4, 3, "human", "agent/")
    agent = cfg.agents[0]
    assert agent.command == ("my-agent", "--prompt", "{prompt_file}")
    assert (agent.role, agent.max_concurrent, agent.timeout_seconds, agent.paused) == ("implement", 1, 3600, False)


def test_in_a_linked_worktree_the_default_state_is_the_main_repositorys(repo, tmp_path):
    linked = tmp_path / "linked"
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "-q", "-b", "side", str(linked)], check=True)
    cfg = configmod.load(write(linked, MINIMAL))
    assert cfg.repo == linked and cfg.queue_dir == repo / ".git" / "orchestrator" / "queue"


def test_the_default_layout_outside_a_repository_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match=r"queue_dir: .* is not a git repository \(run 'git init' there"):
        configmod.load(write(tmp_path, MINIMAL))
    explicit = configmod.load(write(tmp_path, "queue_dir: q\nstate_dir: s\n" + textwrap.dedent(MINIMAL)))
    assert explicit.queue_dir == tmp_path / "q"


@pytest.mark.parametrize("text, message", [
    ("max_runing: 3\nagents: []\n", "agents.yaml:1: key 'max_runing': unknown key 'max_runing' in agents.yaml "
                                    "(did you mean 'max_running'?)"),
    ("agents:\n  - name: a\n    command: x\n  - name: a\n    command: y\n",
     "agents.yaml:4: key 'agents[1].name': duplicate agent name 'a'"),
    ("agents:\n  - name: a\n    command: x\n    max_concurrent: -1\n",
     "agents.yaml:4: key 'agents[0].max_concurrent': -1 is below the minimum 1"),
    ("agents:\n  - name: a\n    command: x {prompt_fil}\n", "unknown placeholder '{prompt_fil}'"),
    ("agents:\n  - name: a\n    command: x\n    paused: maybe\n", "key 'agents[0].paused': must be true or false"),
    ("review: sometimes\nagents: []\n", "'sometimes' is not one of human, agent, none"),
    ("agents:\n  - name: a\n", "agent #1 has neither a 'command' nor a 'preset'"),
    ("tick_seconds: 60\n", "agents.yaml is missing the required key 'agents'"),
    ("agents: [\n", "agents.yaml:2:1: YAML syntax error"),
    ("agents:\n  - name: ../evil\n    command: x\n", "agent name '../evil' may only use letters"),
    ("agents:\n  - name: a\n    command: 'x \"unbalanced'\n", "cannot split the command"),
    ("!!python/object/apply:os.system ['echo hi']\n", "YAML"),
])
def test_errors_name_file_line_key_and_fix(tmp_path, text, message):
    with pytest.raises(ConfigError) as caught:
        configmod.load(write(tmp_path, text))
    assert message in str(caught.value)


def test_missing_file_says_how_to_create_one(tmp_path):
    with pytest.raises(ConfigError, match="orchestrator init"):
        configmod.load(tmp_path / "nope.yaml")


def test_config_is_found_by_flag_then_environment_then_cwd(tmp_path):
    assert configmod.find_config_path("x.yaml", {"ORCHESTRATOR_CONFIG": "/e.yaml"}, tmp_path) == tmp_path / "x.yaml"
    assert configmod.find_config_path(None, {"ORCHESTRATOR_CONFIG": "/e.yaml"}, tmp_path).as_posix() == "/e.yaml"
    assert configmod.find_config_path(None, {}, tmp_path) == tmp_path / "agents.yaml"


def test_command_placeholders_are_substituted_per_argument():
    argv = configmod.expand_command(("tool", "--title={title}", "{prompt_file}", "{{literal}}"),
                                    {"title": "a b; $(x)", "prompt_file": "/p.md"})
    assert argv == ["tool", "--title=a b; $(x)", "/p.md", "{literal}"]


def test_yaml_bomb_is_refused_quickly(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n"
    for n in range(1, 9):
        bomb += f"a{n}: &a{n} [*a{'' if n == 1 else n - 1}, *a{'' if n == 1 else n - 1}, *a{'' if n == 1 else n - 1}, " \
                f"*a{'' if n == 1 else n - 1}, *a{'' if n == 1 else n - 1}, *a{'' if n == 1 else n - 1}]\n"
    with pytest.raises(ConfigError, match="too large or too deeply aliased"):
        configmod.load(write(tmp_path, bomb + "agents: []\n"))
