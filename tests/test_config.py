"""Config loading, merging, validation errors (file:line: key), dumping and ${VAR} resolution."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

import pytest
import yaml

from wzp_supervisor import config as cfgmod
from wzp_supervisor.agent_environment import resolve_environment
from wzp_supervisor.config import (
    Config,
    ConfigError,
    builtin_config,
    config_to_dict,
    dump_config,
    load_config,
    parse_config_text,
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg-config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value


def unpathed(cfg: Config) -> Config:
    return dataclasses.replace(cfg, path=None)


# --------------------------------------------------------------------------- built-in / lookup


def test_builtin_defaults() -> None:
    cfg = builtin_config()
    assert cfg.path is None
    assert cfg.default_template == "default"
    assert set(cfg.templates) == {"default", "web_dev"}
    assert cfg.framework.max_workspaces == 8
    assert cfg.processes.command == ("claude",)
    assert cfg.processes.max_instances == 16
    assert cfg.processes.restart_policy == "always"
    assert cfg.communication.max_message_bytes == 1_048_576
    assert cfg.metrics.port == 9464 and cfg.metrics.enabled is False
    assert cfg.notifications.command is None and cfg.notifications.min_interval == 30.0
    assert cfg.ui.keybindings["jump_to_waiting"] == "ctrl+shift+j"
    assert cfg.ui.status_bar["enabled"] is True


def test_builtin_templates() -> None:
    default, web = builtin_config().templates["default"], builtin_config().templates["web_dev"]
    assert default.layout == "three_pane_horizontal"
    assert [(p.name, p.position, p.agent, p.supervised) for p in default.panes] == [
        ("agent-1", "left", "claude", True),
        ("agent-2", "center", "claude", True),
        ("monitor", "right", "none", False),
    ]
    assert default.panes[2].command == ("wzp", "top")
    assert web.layout == "four_pane_grid"
    dev = web.panes[2]
    assert (dev.name, dev.command, dev.agent, dev.supervised, dev.restart_policy) == (
        "devserver",
        ("npm", "run", "dev"),
        "none",
        True,
        "on-failure",
    )
    assert web.panes[3].command == ("wzp", "logs", "{workspace}/devserver", "-f")
    assert web.panes[3].supervised is False


def test_no_user_file_gives_builtin() -> None:
    assert load_config() == builtin_config()


def test_candidates_in_order(_isolated: Path) -> None:
    base = _isolated / "wezterm-parallel"
    base.mkdir(parents=True)
    (base / "config.toml").write_text("[framework]\nmax_workspaces = 3\n")
    assert load_config().framework.max_workspaces == 3
    assert load_config().path == base / "config.toml"
    (base / "config.yaml").write_text("framework:\n  max_workspaces: 4\n")
    assert load_config().framework.max_workspaces == 4


def test_missing_file(tmp_path: Path) -> None:
    err = load_error(tmp_path / "nope.yaml")
    assert err.file == str(tmp_path / "nope.yaml") and "no such file" in err.message


# --------------------------------------------------------------------------- merging


def test_sections_merge_key_by_key(tmp_path: Path) -> None:
    cfg = load_config(
        write(
            tmp_path,
            """
            processes:
              claude_code:
                max_instances: 3
            ui:
              keybindings:
                kill_process: alt+k
            """,
        )
    )
    assert cfg.processes.max_instances == 3
    assert cfg.processes.restart_policy == "always"  # untouched default
    assert cfg.ui.keybindings["kill_process"] == "alt+k"
    assert cfg.ui.keybindings["create_workspace"] == "ctrl+shift+n"
    assert cfg.ui.theme == builtin_config().ui.theme
    assert set(cfg.templates) == {"default", "web_dev"}


def test_user_template_replaces_and_adds(tmp_path: Path) -> None:
    cfg = load_config(
        write(
            tmp_path,
            """
            workspaces:
              default_template: solo
              templates:
                default:
                  layout: single
                  panes: [{name: only}]
                solo:
                  layout: two_pane_vertical
                  panes:
                    - {name: a, position: bottom}
                    - {name: b}
            """,
        )
    )
    assert set(cfg.templates) == {"default", "web_dev", "solo"}
    assert cfg.default_template == "solo"
    default = cfg.templates["default"]
    assert default.layout == "single" and [p.name for p in default.panes] == ["only"]
    assert default.description == ""  # replaced whole, nothing of the built-in bleeds in
    assert [(p.name, p.position) for p in cfg.templates["solo"].panes] == [
        ("a", "bottom"),
        ("b", "top"),  # the next free slot
    ]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("config.yaml", ""),
        ("config.yaml", "# nothing here\n\n   # indented comment\n"),
        ("config.yaml", "---\n"),
        ("config.toml", ""),
        ("config.toml", "# nothing\n"),
    ],
)
def test_empty_or_comments_only_file_means_all_defaults(
    tmp_path: Path, name: str, text: str
) -> None:
    path = write(tmp_path, text, name)
    cfg = load_config(path)
    assert cfg.path == path
    assert dataclasses.replace(cfg, path=None) == builtin_config()
    assert cfg.templates.keys() == builtin_config().templates.keys()


def test_empty_section_keeps_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "ui:\n  # all commented out\nmetrics:\n  enabled: true\n"))
    assert cfg.ui == builtin_config().ui
    assert cfg.metrics.enabled is True


# --------------------------------------------------------------------------- panes


def pane_of(tmp_path: Path, pane_yaml: str) -> cfgmod.PaneTemplate:
    text = "workspaces:\n  templates:\n    t:\n      layout: single\n      panes:\n"
    text += textwrap.indent(textwrap.dedent(pane_yaml).strip(), " " * 8) + "\n"
    path = tmp_path / "pane.yaml"
    path.write_text(text)
    return load_config(path).templates["t"].panes[0]


@pytest.mark.parametrize(
    ("pane_yaml", "command", "agent", "shell"),
    [
        ("- name: a", None, "claude", False),
        ("- name: a\n  command: claude --model x", ("claude", "--model", "x"), "claude", False),
        ("- name: a\n  command: [/opt/bin/claude]", ("/opt/bin/claude",), "claude", False),
        ("- name: a\n  command: npm run 'dev server'", ("npm", "run", "dev server"), "none", False),
        ("- name: a\n  command: htop\n  agent: claude", ("htop",), "claude", False),
        (
            "- name: a\n  command: claude | tee x\n  shell: true",
            ("claude | tee x",),
            "claude",
            True,
        ),
        (
            "- name: a\n  command: [make && make test]\n  shell: true",
            ("make && make test",),
            "none",
            True,
        ),
    ],
)
def test_pane_command_and_agent(
    tmp_path: Path, pane_yaml: str, command: tuple[str, ...] | None, agent: str, shell: bool
) -> None:
    pane = pane_of(tmp_path, pane_yaml)
    assert (pane.command, pane.agent, pane.shell) == (command, agent, shell)


def test_pane_overrides_and_environment(tmp_path: Path) -> None:
    pane = pane_of(
        tmp_path,
        """
        - name: a
          restart_policy: never
          min_uptime: 2
          max_retries: 0
          backoff_max: 1.5
          cwd: sub/dir
          environment: {PORT: 3000, TOKEN: "${MY_TOKEN}"}
        """,
    )
    assert (pane.restart_policy, pane.min_uptime, pane.max_retries, pane.backoff_max) == (
        "never",
        2.0,
        0,
        1.5,
    )
    assert pane.cwd == "sub/dir"
    assert dict(pane.environment) == {"PORT": "3000", "TOKEN": "${MY_TOKEN}"}


def test_config_objects_are_frozen() -> None:
    cfg = builtin_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.default_template = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.templates["new"] = cfg.templates["default"]  # type: ignore[index]


# --------------------------------------------------------------------------- errors

TPL = "workspaces:\n  templates:\n    t:\n"

BAD_YAML = [
    # (id, text, line, key, message fragment)
    ("unknown-top", "framewrk:\n  name: x\n", 1, "framewrk", "did you mean 'framework'"),
    (
        "unknown-nested",
        "processes:\n  claude_code:\n    max_instance: 3\n",
        3,
        "processes.claude_code.max_instance",
        "did you mean 'max_instances'",
    ),
    ("unknown-no-hint", "metrics:\n  zzz: 1\n", 2, "metrics.zzz", "known keys: enabled, host"),
    (
        "bool-not-int",
        "framework:\n  max_workspaces: true\n",
        2,
        "framework.max_workspaces",
        "must be an integer, not a boolean",
    ),
    (
        "str-not-int",
        "processes:\n  claude_code:\n    max_instances: '8'\n",
        3,
        "processes.claude_code.max_instances",
        "not a string",
    ),
    ("float-not-int", "metrics:\n  port: 80.5\n", 2, "metrics.port", "must be an integer"),
    (
        "bool-not-float",
        "processes:\n  claude_code:\n    timeout: false\n",
        3,
        "processes.claude_code.timeout",
        "must be a number, not a boolean",
    ),
    (
        "too-small",
        "framework:\n  max_workspaces: 0\n",
        2,
        "framework.max_workspaces",
        "between 1 and 1000, not 0",
    ),
    (
        "negative",
        "processes:\n  claude_code:\n    min_uptime: -1\n",
        3,
        "processes.claude_code.min_uptime",
        "between 0 and 86400",
    ),
    (
        "zero-not-positive",
        "processes:\n  claude_code:\n    backoff_max: 0\n",
        3,
        "processes.claude_code.backoff_max",
        "greater than 0",
    ),
    ("port-range", "metrics:\n  port: 70000\n", 2, "metrics.port", "between 1 and 65535"),
    (
        "msg-bytes",
        "communication:\n  max_message_bytes: 10\n",
        2,
        "communication.max_message_bytes",
        "between 1024",
    ),
    (
        "restart-policy",
        "processes:\n  claude_code:\n    restart_policy: sometimes\n",
        3,
        "processes.claude_code.restart_policy",
        "one of always, on-failure, never",
    ),
    (
        "restart-policy-typo",
        "processes:\n  claude_code:\n    restart_policy: on_failure\n",
        3,
        "processes.claude_code.restart_policy",
        "did you mean 'on-failure'",
    ),
    ("log-level", "framework:\n  log_level: verbose\n", 2, "framework.log_level", "unknown"),
    ("bool-str", "metrics:\n  enabled: 'yes'\n", 2, "metrics.enabled", "true or false"),
    ("section-type", "metrics: 3\n", 1, "metrics", "must be a mapping, not an integer"),
    ("top-list", "- a\n- b\n", 1, "", "top level must be a mapping"),
    ("syntax", "framework:\n  name: [unclosed\nmetrics: {}\n", 3, "", "YAML syntax error"),
    ("syntax-indent", "framework:\n  name: a\n   bad: b\n", 3, "", "YAML syntax error"),
    (
        "duplicate-key",
        "metrics:\n  port: 1\n  port: 2\n",
        3,
        "metrics.port",
        "duplicate key (first on line 2)",
    ),
    (
        "default-undefined",
        "workspaces:\n  default_template: nope\n",
        2,
        "workspaces.default_template",
        "'nope' is not defined",
    ),
    (
        "unknown-layout",
        TPL + "      layout: three_pane\n      panes: [{name: a}]\n",
        4,
        "workspaces.templates.t.layout",
        "unknown layout 'three_pane'",
    ),
    (
        "missing-layout",
        TPL + "      panes: [{name: a}]\n",
        3,
        "workspaces.templates.t.layout",
        "required key is missing",
    ),
    (
        "unknown-position",
        TPL + "      layout: three_pane_horizontal\n      panes:\n        - name: a\n"
        "          position: middle\n",
        7,
        "workspaces.templates.t.panes[0].position",
        "unknown position 'middle' for layout three_pane_horizontal",
    ),
    (
        "position-other-layout",
        TPL + "      layout: two_pane_vertical\n      panes:\n        - name: a\n"
        "          position: left\n",
        7,
        "workspaces.templates.t.panes[0].position",
        "(one of top, bottom)",
    ),
    (
        "too-many-panes",
        TPL + "      layout: single\n      panes:\n        - name: a\n        - name: b\n",
        5,
        "workspaces.templates.t.panes",
        "2 panes but layout single has 1 slots (main)",
    ),
    (
        "no-panes",
        TPL + "      layout: single\n      panes: []\n",
        5,
        "workspaces.templates.t.panes",
        "at least one pane",
    ),
    (
        "panes-not-list",
        TPL + "      layout: single\n      panes: {name: a}\n",
        5,
        "workspaces.templates.t.panes",
        "must be a list of panes",
    ),
    (
        "duplicate-pane",
        TPL + "      layout: four_pane_grid\n      panes:\n        - name: a\n        - name: b\n"
        "        - name: a\n",
        8,
        "workspaces.templates.t.panes[2].name",
        "duplicate pane name 'a' (also panes[0])",
    ),
    (
        "duplicate-position",
        TPL + "      layout: two_pane_vertical\n      panes:\n        - {name: a, position: top}\n"
        "        - {name: b, position: top}\n",
        7,
        "workspaces.templates.t.panes[1].position",
        "already used by panes[0]",
    ),
    (
        "pane-name-upper",
        TPL + "      layout: single\n      panes:\n        - name: Agent1\n",
        6,
        "workspaces.templates.t.panes[0].name",
        "must be lower case (try 'agent1')",
    ),
    (
        "pane-name-slash",
        TPL + "      layout: single\n      panes:\n        - name: a/b\n",
        6,
        "workspaces.templates.t.panes[0].name",
        "must not contain '/'",
    ),
    (
        "pane-name-long",
        TPL + "      layout: single\n      panes:\n        - name: " + "a" * 64 + "\n",
        6,
        "workspaces.templates.t.panes[0].name",
        "too long",
    ),
    (
        "pane-name-int",
        TPL + "      layout: single\n      panes:\n        - name: 7\n",
        6,
        "workspaces.templates.t.panes[0].name",
        "must be a string",
    ),
    (
        "template-name",
        "workspaces:\n  templates:\n    My_T:\n      layout: single\n",
        3,
        "workspaces.templates.My_T",
        "must be lower case",
    ),
    (
        "template-name-dot",
        "workspaces:\n  templates:\n    a..b:\n      layout: single\n",
        3,
        "workspaces.templates.a..b",
        "must not contain '..'",
    ),
    (
        "pane-unknown-key",
        TPL + "      layout: single\n      panes:\n        - name: a\n          comand: htop\n",
        7,
        "workspaces.templates.t.panes[0].comand",
        "did you mean 'command'",
    ),
    (
        "command-type",
        TPL + "      layout: single\n      panes:\n        - name: a\n          command: 42\n",
        7,
        "workspaces.templates.t.panes[0].command",
        "a string or a list of strings",
    ),
    (
        "command-empty",
        TPL + "      layout: single\n      panes:\n        - name: a\n          command: ''\n",
        7,
        "workspaces.templates.t.panes[0].command",
        "empty",
    ),
    (
        "command-list-item",
        TPL + "      layout: single\n      panes:\n        - name: a\n"
        "          command:\n            - ls\n            - 3\n",
        9,
        "workspaces.templates.t.panes[0].command[1]",
        "must be a string",
    ),
    (
        "command-quote",
        TPL + "      layout: single\n      panes:\n        - name: a\n"
        "          command: echo 'oops\n",
        7,
        "workspaces.templates.t.panes[0].command",
        "cannot split",
    ),
    (
        "shell-list",
        TPL + "      layout: single\n      panes:\n        - name: a\n"
        "          shell: true\n          command: [a, b]\n",
        8,
        "workspaces.templates.t.panes[0].command",
        "one string",
    ),
    (
        "agent-kind",
        TPL + "      layout: single\n      panes:\n        - name: a\n          agent: codex\n",
        7,
        "workspaces.templates.t.panes[0].agent",
        "unknown",
    ),
    (
        "env-name",
        TPL + "      layout: single\n      panes:\n        - name: a\n"
        "          environment:\n            1BAD: x\n",
        8,
        "workspaces.templates.t.panes[0].environment.1BAD",
        "not a valid environment variable",
    ),
    (
        "env-value",
        "processes:\n  claude_code:\n    environment:\n      DEBUG: [1]\n",
        4,
        "processes.claude_code.environment.DEBUG",
        "must be a string, not a list",
    ),
    (
        "env-bool",
        "processes:\n  claude_code:\n    environment:\n      DEBUG: yes\n",
        4,
        "processes.claude_code.environment.DEBUG",
        "not a boolean (quote it: 'true')",
    ),
    (
        "passthrough",
        "processes:\n  claude_code:\n    env_passthrough: HOME\n",
        3,
        "processes.claude_code.env_passthrough",
        "a list of variable names",
    ),
    (
        "isolation",
        TPL + "      layout: single\n      isolation: docker\n      panes: [{name: a}]\n",
        5,
        "workspaces.templates.t.isolation",
        "unknown",
    ),
    (
        "rlimit-name",
        TPL + "      layout: single\n      rlimits: {cpu: 3}\n      panes: [{name: a}]\n",
        5,
        "workspaces.templates.t.rlimits.cpu",
        "unknown key",
    ),
    (
        "rlimit-value",
        TPL + "      layout: single\n      rlimits:\n        nofile: 0\n      panes: [{name: a}]\n",
        6,
        "workspaces.templates.t.rlimits.nofile",
        "between 1",
    ),
    (
        "keybinding-action",
        "ui:\n  keybindings:\n    kill_proc: ctrl+k\n",
        3,
        "ui.keybindings.kill_proc",
        "did you mean 'kill_process'",
    ),
    (
        "keybinding-chord",
        "ui:\n  keybindings:\n    kill_process: hyper+k\n",
        3,
        "ui.keybindings.kill_process",
        "unknown modifier 'hyper'",
    ),
    ("theme-value", "ui:\n  theme:\n    busy: 12\n", 3, "ui.theme.busy", "must be a string"),
    (
        "status-bar",
        "ui:\n  status_bar:\n    update_interval: 0\n",
        3,
        "ui.status_bar.update_interval",
        "greater than 0",
    ),
    (
        "notify-command",
        "notifications:\n  command: {a: 1}\n",
        2,
        "notifications.command",
        "a string or a list",
    ),
    ("processes-unknown", "processes:\n  codex: {}\n", 2, "processes.codex", "unknown key"),
    (
        "null-for-int",
        "framework:\n  max_workspaces: null\n",
        2,
        "framework.max_workspaces",
        "not null",
    ),
    ("non-str-key", "metrics:\n  1: x\n", 1, "metrics", "must be a string (quote it)"),
]


@pytest.mark.parametrize(
    ("text", "line", "key", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_YAML],
)
def test_yaml_errors_name_file_line_key(
    tmp_path: Path, text: str, line: int, key: str, fragment: str
) -> None:
    path = write(tmp_path, text)
    err = load_error(path)
    assert (err.file, err.line, err.key) == (str(path), line, key), str(err)
    assert fragment in err.message, str(err)
    shown = key or "(top level)"
    assert str(err) == f"{path}:{line}: {shown}: {err.message}"


BAD_TOML = [
    (
        "inline-table",  # no line for the nested key: the user's line, not the built-in's
        "\n\nprocesses = { claude_code = { max_instance = 3 } }\n",
        3,
        "processes.claude_code.max_instance",
        "did you mean 'max_instances'",
    ),
    ("unknown", "[framework]\nnme = 'x'\n", 2, "framework.nme", "did you mean 'name'"),
    ("type", "[metrics]\nport = true\n", 2, "metrics.port", "not a boolean"),
    (
        "nested-table",
        "[processes.claude_code]\nrestart_policy = 'no'\n",
        2,
        "processes.claude_code.restart_policy",
        "unknown",
    ),
    (
        "array-of-tables",
        "[workspaces.templates.t]\nlayout = 'two_pane_horizontal'\n\n"
        "[[workspaces.templates.t.panes]]\nname = 'a'\n\n"
        "[[workspaces.templates.t.panes]]\nname = 'b'\nposition = 'up'\n",
        9,
        "workspaces.templates.t.panes[1].position",
        "unknown position",
    ),
    (
        "table-in-array",
        "[workspaces.templates.t]\nlayout = 'single'\n[[workspaces.templates.t.panes]]\n"
        "name = 'a'\n[workspaces.templates.t.panes.environment]\n'9X' = 'v'\n",
        6,
        "workspaces.templates.t.panes[0].environment.9X",
        "not a valid environment variable",
    ),
    (
        "dotted-key",
        "ui.keybindings.kill_process = 'ctrl+'\n",
        1,
        "ui.keybindings.kill_process",
        "no key",
    ),
    ("syntax", "[metrics]\nport = \n", 2, "", "TOML syntax error"),
]


@pytest.mark.parametrize(
    ("text", "line", "key", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_TOML],
)
def test_toml_errors_name_file_line_key(
    tmp_path: Path, text: str, line: int, key: str, fragment: str
) -> None:
    path = write(tmp_path, text, "config.toml")
    err = load_error(path)
    assert (err.file, err.line, err.key) == (str(path), line, key), str(err)
    assert fragment in err.message, str(err)


def test_error_is_picklable_and_has_fields() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(ConfigError("f.yaml", 3, "a.b", "bad")))
    assert (err.file, err.line, err.key, err.message, str(err)) == (
        "f.yaml",
        3,
        "a.b",
        "bad",
        "f.yaml:3: a.b: bad",
    )
    assert str(ConfigError("f.yaml", None, "a", "m")) == "f.yaml: a: m"


# --------------------------------------------------------------------------- formats

USER_YAML = """\
framework:
  log_level: debug
  max_workspaces: 12
workspaces:
  default_template: review
  templates:
    review:
      description: Reviewer and author
      layout: two_pane_horizontal
      isolation: worktree
      notify: false
      rlimits: {nofile: 4096, as: 8589934592}
      panes:
        - name: author
          position: left
          environment: {ROLE: author}
        - name: tests
          position: right
          command: pytest -x --lf
          shell: true
          restart_policy: never
          cwd: tests
processes:
  claude_code:
    command: [claude, --model, opus]
    environment:
      ANTHROPIC_API_KEY: ${ANTHROPIC_API_KEY}
      GITHUB_TOKEN: ghp_literal
    env_passthrough: [SSH_AUTH_SOCK]
notifications:
  command: notify-send -u critical
"""

USER_TOML = """\
[framework]
log_level = "debug"
max_workspaces = 12

[workspaces]
default_template = "review"

[workspaces.templates.review]
description = "Reviewer and author"
layout = "two_pane_horizontal"
isolation = "worktree"
notify = false
rlimits = { nofile = 4096, as = 8589934592 }

[[workspaces.templates.review.panes]]
name = "author"
position = "left"
environment = { ROLE = "author" }

[[workspaces.templates.review.panes]]
name = "tests"
position = "right"
command = "pytest -x --lf"
shell = true
restart_policy = "never"
cwd = "tests"

[processes.claude_code]
command = ["claude", "--model", "opus"]
env_passthrough = ["SSH_AUTH_SOCK"]

[processes.claude_code.environment]
ANTHROPIC_API_KEY = "${ANTHROPIC_API_KEY}"
GITHUB_TOKEN = "ghp_literal"

[notifications]
command = "notify-send -u critical"
"""


def test_toml_equals_yaml(tmp_path: Path) -> None:
    from_yaml = load_config(write(tmp_path, USER_YAML))
    from_toml = load_config(write(tmp_path, USER_TOML, "config.toml"))
    assert from_toml.path == tmp_path / "config.toml"
    assert unpathed(from_yaml) == unpathed(from_toml)
    review = from_yaml.templates["review"]
    assert review.panes[1].command == ("pytest -x --lf",) and review.panes[1].agent == "none"
    assert dict(review.rlimits) == {"nofile": 4096, "as": 8589934592}
    assert from_yaml.notifications.command == ("notify-send", "-u", "critical")


def test_json_loads_like_yaml(tmp_path: Path) -> None:
    data = yaml.safe_load(USER_YAML)
    path = write(tmp_path, json.dumps(data, indent=1), "config.json")
    assert unpathed(load_config(path)) == unpathed(load_config(write(tmp_path, USER_YAML)))


@pytest.mark.parametrize("fmt", ["yaml", "toml", "json"])
def test_dump_round_trips(tmp_path: Path, fmt: cfgmod.ConfigFormat) -> None:
    cfg = load_config(write(tmp_path, USER_YAML))
    text = dump_config(cfg, fmt, mask_secrets=False)
    assert parse_config_text(text, f"dump.{fmt}", fmt) == unpathed(cfg)


def test_toml_dump_drops_none() -> None:
    text = dump_config(builtin_config(), "toml")
    assert "socket_path" not in text and 'restart_policy = "on-failure"' in text


def test_secrets_masked(tmp_path: Path) -> None:
    text = USER_YAML.replace(
        "          environment: {ROLE: author}",
        "          environment: {ROLE: author, DB_PASSWORD: hunter2, api_key: '${K:-x}'}",
    )
    cfg = load_config(write(tmp_path, text))
    shown = config_to_dict(cfg)
    env = shown["processes"]["claude_code"]["environment"]
    assert env == {"ANTHROPIC_API_KEY": "${ANTHROPIC_API_KEY}", "GITHUB_TOKEN": "***"}
    pane_env = shown["workspaces"]["templates"]["review"]["panes"][0]["environment"]
    assert pane_env == {"ROLE": "author", "DB_PASSWORD": "***", "api_key": "${K:-x}"}
    for fmt in ("yaml", "toml", "json"):
        out = dump_config(cfg, fmt)
        assert "hunter2" not in out and "ghp_literal" not in out
    raw = config_to_dict(cfg, mask_secrets=False)
    assert raw["processes"]["claude_code"]["environment"]["GITHUB_TOKEN"] == "ghp_literal"


# --------------------------------------------------------------------------- ${VAR}


@pytest.mark.parametrize(
    ("value", "expected", "missing"),
    [
        ("${A}", "alpha", []),
        ("x-${A}-${B}", "x-alpha-", []),  # B is set but empty
        ("${NOPE}", "", ["NOPE"]),
        ("${NOPE:-fallback}", "fallback", []),
        ("${B:-used-when-empty}", "used-when-empty", []),
        ("${A:-unused}", "alpha", []),
        ("${NOPE:-}", "", []),
        ("plain $A text", "plain $A text", []),
        ("${NOPE}${NOPE}", "", ["NOPE"]),
    ],
)
def test_resolve_environment(value: str, expected: str, missing: list[str]) -> None:
    resolved, absent = resolve_environment({"V": value}, {"A": "alpha", "B": ""})
    assert resolved == {"V": expected}
    assert absent == missing


def test_resolve_environment_lists_every_missing_name() -> None:
    env = {"X": "${ONE}", "Y": "${TWO}/${ONE}", "Z": "keep"}
    resolved, missing = resolve_environment(env, {})
    assert resolved == {"X": "", "Y": "/", "Z": "keep"}
    assert missing == ["ONE", "TWO"]
