"""The specification's own config example, and the keys and forms it uses."""

from __future__ import annotations

import os
import stat
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, WzpEnv
from wzp_supervisor.config import ConfigError, builtin_config, dump_config, load_config
from wzp_supervisor.preflight import config_warnings, missing_program, pane_missing_program
from wzp_supervisor.templates import expand_workspace

SPEC = REPO / "config" / "examples" / "spec.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))


# --------------------------------------------------------------------------- the example


def test_spec_example_loads_as_written() -> None:
    cfg = load_config(SPEC)
    default, web = cfg.templates["default"], cfg.templates["web_dev"]
    assert default.layout == "three_pane_horizontal" and default.auto_start is True
    assert [(p.name, p.position, p.command) for p in default.panes] == [
        ("left", "left", ("claude-code", "--workspace=main")),
        ("center", "center", ("claude-code", "--workspace=test")),
        ("right", "right", ("htop",)),
    ]
    assert [(p.name, p.position) for p in web.panes] == [
        ("top_left", "top_left"),
        ("top_right", "top_right"),
        ("bottom_left", "bottom_left"),
        ("bottom_right", "bottom_right"),
    ]
    assert web.panes[3].command == ("tail", "-f", "logs/app.log")
    assert cfg.framework.version == "1.0.0"
    assert cfg.processes.health_check_interval == 10.0 and cfg.processes.timeout == 30.0
    assert dict(cfg.processes.environment) == {"CLAUDE_API_KEY": "${CLAUDE_API_KEY}"}
    assert cfg.communication.protocol == "unix_socket"
    assert cfg.communication.message_timeout == 5.0  # 5000 ms, held in seconds
    assert cfg.communication.socket_path == "/tmp/wezterm-parallel.sock"
    assert cfg.ui.theme["busy"] == "#e0af68"  # "dark"
    assert cfg.ui.show_process_status is True and cfg.ui.auto_hide_inactive_panes is False
    assert cfg.ui.keybindings["kill_process"] == "ctrl+shift+k"


def _bare_env(wzp_env: WzpEnv, bin_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in wzp_env.env.items() if k != "CLAUDE_API_KEY"}
    return {**env, "PATH": str(bin_dir)}


def test_spec_example_through_config_check(wzp_env: WzpEnv, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"  # PATH holds npm and tail only
    bin_dir.mkdir()
    for program in ("npm", "tail"):
        (bin_dir / program).write_text("#!/bin/sh\n")
        (bin_dir / program).chmod(0o755)
    env = _bare_env(wzp_env, bin_dir)
    result = wzp_env.wzp("config", "check", str(SPEC), extra_env=env)
    wzp_env.env.pop("CLAUDE_API_KEY", None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{SPEC}: ok (2 templates: default, web_dev)"
    warnings = result.stderr.splitlines()
    lines = SPEC.read_text().splitlines()

    def at(fragment: str) -> int:
        return next(i for i, line in enumerate(lines, 1) if fragment in line)

    def pane(template: str, index: int, program: str, hint: str = "") -> str:
        key = f"workspaces.templates.{template}.panes[{index}].command"
        problem = f"{program}: not found on PATH{hint}; the pane will fail to start"
        return f"{SPEC}:{{}}: warning: {key}: {problem}"

    claude = " (the Claude Code command is `claude`)"
    env_key = "processes.claude_code.environment.CLAUDE_API_KEY"
    assert warnings == [
        pane("default", 0, "claude-code", claude).format(at("--workspace=main")),
        pane("default", 1, "claude-code", claude).format(at("--workspace=test")),
        pane("default", 2, "htop").format(at('"htop"')),
        pane("web_dev", 0, "claude-code", claude).format(at("--workspace=frontend")),
        pane("web_dev", 1, "claude-code", claude).format(at("--workspace=backend")),
        f"{SPEC}:{at('CLAUDE_API_KEY:')}: warning: {env_key}: Claude Code does not read "
        "CLAUDE_API_KEY; set ANTHROPIC_API_KEY (for example ANTHROPIC_API_KEY: "
        "${ANTHROPIC_API_KEY})",
        f"{SPEC}:{at('CLAUDE_API_KEY:')}: warning: {env_key}: ${{CLAUDE_API_KEY}} is not set "
        "in the environment; it will expand to an empty string",
    ]


def test_config_check_without_warnings_prints_none(wzp_env: WzpEnv, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        workspaces:
          default_template: t
          templates:
            t:
              layout: single
              panes: [{command: [sh, -c, "true"], environment: {X: "${SET_HERE}"}}]
        """,
    )
    extra = {"SET_HERE": "1", "PATH": "/usr/bin:/bin"}
    result = wzp_env.wzp("config", "check", str(path), extra_env=extra)
    # the built-in web_dev template's panes run `claude` (processes.claude_code.command)
    assert result.returncode == 0, result.stderr
    assert [w for w in result.stderr.splitlines() if "panes[" in w] == []


def test_config_show_prints_the_canonical_key(wzp_env: WzpEnv) -> None:
    shown = wzp_env.wzp("config", "show", "--config", str(SPEC), check=True).stdout
    data = yaml.safe_load(shown)
    default = data["workspaces"]["templates"]["default"]
    assert default["auto_start_processes"] is True and "auto_start" not in default
    assert data["communication"]["message_timeout"] == 5000
    assert data["communication"]["protocol"] == "unix_socket"


# --------------------------------------------------------------------------- the forms


TPL = "workspaces:\n  templates:\n    t:\n"


def test_auto_start_alias_and_both(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, TPL + "      layout: single\n      auto_start: false\n"
                                      "      panes: [{name: a}]\n"))  # fmt: skip
    assert cfg.templates["t"].auto_start is False
    assert "auto_start_processes: false" in dump_config(cfg)
    path = write(
        tmp_path,
        TPL + "      layout: single\n      auto_start: false\n      auto_start_processes: true\n"
        "      panes: [{name: a}]\n",
    )
    err = load_error(path)
    assert (err.line, err.key) == (5, "workspaces.templates.t.auto_start")
    assert "'auto_start' and 'auto_start_processes' are the same setting" in err.message


def test_pane_name_is_derived_from_the_position(tmp_path: Path) -> None:
    cfg = load_config(
        write(
            tmp_path,
            TPL + "      layout: four_pane_grid\n      panes:\n"
            "        - {position: bottom-right}\n        - {name: main, position: top_left}\n"
            "        - {command: htop}\n",
        )
    )
    panes = cfg.templates["t"].panes
    assert [(p.name, p.position) for p in panes] == [
        ("bottom_right", "bottom_right"),
        ("main", "top_left"),
        ("top_right", "top_right"),  # the next free slot, and its name
    ]


def test_duplicate_derived_name_names_both_panes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        TPL + "      layout: two_pane_horizontal\n      panes:\n"
        "        - {name: right, position: left}\n        - {position: right}\n",
    )
    err = load_error(path)
    assert (err.line, err.key) == (7, "workspaces.templates.t.panes[1].position")
    assert err.message == (
        "duplicate pane name: panes[0] is named 'right' and panes[1] takes the name 'right' "
        "from its position; give one of them another name"
    )


def test_hyphen_position_duplicate_of_underscore(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        TPL + "      layout: four_pane_grid\n      panes:\n"
        "        - {position: top-left}\n        - {position: top_left}\n",
    )
    err = load_error(path)
    assert err.key == "workspaces.templates.t.panes[1].position"
    assert "position 'top_left' is already used by panes[0]" in err.message


def test_unknown_position_with_hyphen_gets_a_hint(tmp_path: Path) -> None:
    path = write(
        tmp_path, TPL + "      layout: four_pane_grid\n      panes: [{position: top-lef}]\n"
    )
    assert "did you mean 'top_left'?" in load_error(path).message


def test_main_and_stack_keeps_the_old_shape(tmp_path: Path) -> None:
    text = TPL + "      layout: three_pane_horizontal\n      panes: [{position: top_right}]\n"
    err = load_error(write(tmp_path, text))
    assert err.message == (
        "unknown position 'top_right' for layout three_pane_horizontal (one of left, center, "
        "right; a main pane beside a stack of two is layout main_and_stack)"
    )
    text = text.replace("three_pane_horizontal", "main_and_stack")
    panes = load_config(write(tmp_path, text)).templates["t"].panes
    assert [p.name for p in panes] == ["top_right"]


def test_builtin_default_is_three_columns() -> None:
    default = builtin_config().templates["default"]
    assert default.layout == "three_pane_horizontal"
    assert [(p.position, p.agent, p.supervised) for p in default.panes] == [
        ("left", "claude", True),
        ("center", "claude", True),
        ("right", "none", False),
    ]


def test_websocket_is_a_clear_error(tmp_path: Path) -> None:
    err = load_error(write(tmp_path, "communication:\n  protocol: websocket\n"))
    assert (err.line, err.key) == (2, "communication.protocol")
    assert "websocket is not served" in err.message and "ssh HOST wzp" in err.message
    err = load_error(write(tmp_path, "communication:\n  protocol: tcp\n"))
    assert "unknown protocol 'tcp'" in err.message and "unix_socket" in err.message


@pytest.mark.parametrize(
    ("value", "seconds"), [(5000, 5.0), (100, 0.1), (1500, 1.5), (3_600_000, 3600.0)]
)
def test_message_timeout_is_milliseconds(tmp_path: Path, value: int, seconds: float) -> None:
    cfg = load_config(write(tmp_path, f"communication:\n  message_timeout: {value}\n"))
    assert cfg.communication.message_timeout == seconds
    for fmt in ("yaml", "toml", "json"):
        assert str(value) in dump_config(cfg, fmt)


def test_message_timeout_in_seconds_by_mistake(tmp_path: Path) -> None:
    err = load_error(write(tmp_path, "communication:\n  message_timeout: 30\n"))
    assert err.message == "must be between 100 and 3.6e+06 milliseconds, not 30"
    assert builtin_config().communication.message_timeout == 30.0


def test_theme_by_name_or_mapping(tmp_path: Path) -> None:
    light = load_config(write(tmp_path, "ui:\n  theme: light\n")).ui.theme
    dark = load_config(write(tmp_path, "ui:\n  theme: dark\n")).ui.theme
    assert set(light) == set(dark) and light != dark
    assert dark == builtin_config().ui.theme
    mixed = load_config(write(tmp_path, "ui:\n  theme: {busy: '#000000'}\n")).ui.theme
    assert mixed["busy"] == "#000000" and mixed["idle"] == dark["idle"]
    err = load_error(write(tmp_path, "ui:\n  theme: solarized\n"))
    assert (err.key, err.message) == ("ui.theme", "unknown theme 'solarized' (one of dark, light)")
    err = load_error(write(tmp_path, "ui:\n  theme: 3\n"))
    assert err.message == "must be a theme name or a mapping of colours, not an integer"


def test_ui_flags(tmp_path: Path) -> None:
    text = "ui:\n  show_process_status: false\n  auto_hide_inactive_panes: true\n"
    ui = load_config(write(tmp_path, text)).ui
    assert (ui.show_process_status, ui.auto_hide_inactive_panes) == (False, True)
    err = load_error(write(tmp_path, "ui:\n  show_process_status: 'no'\n"))
    assert (err.key, err.message) == (
        "ui.show_process_status",
        "must be true or false, not a string",
    )


# --------------------------------------------------------------------------- preflight


def _executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_missing_program(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = _executable(bin_dir / "tool")
    (bin_dir / "plain").write_text("not executable")
    path = f"/nonexistent{os.pathsep}{bin_dir}"
    assert missing_program(["tool", "-x"], path) is None
    assert missing_program(["claude-code"], path) == "claude-code: not found on PATH"
    assert missing_program(["plain"], path) == "plain: not found on PATH"
    assert missing_program(["tool"], None) == "tool: not found on PATH"
    assert missing_program([str(tool)], "") is None
    assert missing_program([str(bin_dir / "nope")], path) == f"{bin_dir}/nope: no such file"
    assert missing_program([str(bin_dir)], path) == f"{bin_dir}: not an executable file"
    assert missing_program(["tool --flag | grep x"], path, shell=True) is None
    assert missing_program(["nope && tool"], path, shell=True) == "nope: not found on PATH"
    assert missing_program(["cd sub && nope"], path, shell=True) is None  # sh's own word
    assert missing_program(["X=1 nope"], path, shell=True) is None
    assert missing_program([], path) == "the command is empty"


def test_pane_missing_program(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _executable(bin_dir / "tool")
    cfg = load_config(
        write(
            tmp_path,
            TPL + "      layout: two_pane_horizontal\n      panes:\n"
            "        - {name: a, command: tool}\n"
            "        - {name: b, command: tool, environment: {PATH: '${MY_BIN}'}}\n",
        )
    )
    a, b = expand_workspace("ws", tmp_path, cfg.templates["t"], cfg)
    assert pane_missing_program(a, {"PATH": "/nonexistent"}) == "tool: not found on PATH"
    assert pane_missing_program(a, {"PATH": str(bin_dir)}) is None
    environ = {"PATH": "/nonexistent", "MY_BIN": str(bin_dir)}
    assert pane_missing_program(b, environ) is None  # the pane's own PATH


def test_config_warnings_for_panes_and_environment(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        processes:
          claude_code:
            command: [claude]
            environment:
              ANTHROPIC_API_KEY: "${KEY_SET}"
              OTHER: "${UNSET_ONE:-fallback}"
        workspaces:
          default_template: t
          templates:
            t:
              layout: two_pane_horizontal
              panes:
                - name: a
                  environment: {CLAUDE_API_KEY: "x", URL: "${UNSET_TWO}/${KEY_SET}"}
                - name: b
                  command: wzp logs {workspace}/a -f
                  supervised: false
        """,
    )
    cfg = load_config(path)
    environ = {"PATH": "", "KEY_SET": "1"}
    warnings = config_warnings(cfg, environ)
    builtin = [w for w in warnings if w.file != str(path)]
    assert {w.key for w in builtin} == {"workspaces.templates.web_dev.panes[2].command"}  # npm
    got = [(w.line, w.key, w.message) for w in warnings if w.file == str(path)]
    assert got == [
        (
            15,
            "workspaces.templates.t.panes[0].environment.CLAUDE_API_KEY",
            "Claude Code does not read CLAUDE_API_KEY; set ANTHROPIC_API_KEY "
            "(for example ANTHROPIC_API_KEY: ${ANTHROPIC_API_KEY})",
        ),
        (
            15,
            "workspaces.templates.t.panes[0].environment.URL",
            "${UNSET_TWO} is not set in the environment; it will expand to an empty string",
        ),
        (
            4,
            "processes.claude_code.command",
            "claude: not found on PATH; panes without a command run it and will fail to start",
        ),
    ]
    assert str(warnings[-3]).startswith(f"{path}:15: warning: workspaces.templates.t.panes[0]")
