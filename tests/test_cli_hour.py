"""CLI consistency a new user meets in the first hour: one meaning per option, names
suggested only when valid, errors that name the real problem."""

from __future__ import annotations

import json
import re
import subprocess
import time

import psutil
import pytest

from tests.claude_env import FakeHub
from tests.conftest import WzpEnv
from tests.support import ctrl_c
from wzp_supervisor.layouts import validate_name


@pytest.mark.parametrize("name", ["My Template", "Web.Dev", "A/B"])
def test_upper_case_names_are_never_told_to_try_an_invalid_name(name: str) -> None:
    with pytest.raises(ValueError) as info:
        validate_name("template", name)
    message = str(info.value)
    if "(try " in message:
        suggestion = message.split("(try ")[1].split(")")[0].strip("'")
        assert validate_name("template", suggestion) == suggestion


def test_n_is_a_count_in_every_command(daemon: WzpEnv) -> None:
    lines = daemon.wzp("top", "--json", "-n", "2", "--interval", "0.2", check=True).stdout
    assert len(lines.splitlines()) == 2
    bad = daemon.wzp("top", "-n", "0.2")
    assert bad.returncode == 2
    for args in (("logs", "--help"), ("peek", "--help"), ("events", "--help"), ("top", "--help")):
        help_text = daemon.wzp(*args, check=True).stdout
        assert "-n, --" in help_text, args
    assert daemon.wzp("events", "-n", "1", "--json", check=True).stdout.count("\n") <= 1


def test_config_check_takes_config_like_the_rest(wzp_env: WzpEnv) -> None:
    path = wzp_env.write_config("framework:\n  max_workspaces: 4\n")
    by_option = wzp_env.wzp("config", "check", "--config", str(path), check=True)
    by_path = wzp_env.wzp("config", "check", str(path), check=True)
    assert by_option.stdout == by_path.stdout
    data = json.loads(wzp_env.wzp("config", "check", "--config", str(path), "--json").stdout)
    assert data["path"] == str(path) and "web_dev" in data["templates"]
    both = wzp_env.wzp("config", "check", str(path), "--config", str(path) + ".other")
    assert both.returncode == 2


def test_template_names_get_a_did_you_mean(daemon: WzpEnv) -> None:
    result = daemon.wzp(
        "workspace", "create", "app", "--template", "web-dev", "--dir", str(daemon.work)
    )
    assert result.returncode == 1
    assert "did you mean 'web_dev'?" in result.stderr
    assert result.stderr.count("\n") == 1
    plan = daemon.wzp("layout", "Web-Dev", "--json")
    assert plan.returncode == 1 and "did you mean 'web_dev'?" in plan.stderr


def test_diff_of_a_pane_that_does_not_exist_says_so(daemon: WzpEnv) -> None:
    result = daemon.wzp("diff", "wt/nope")
    assert result.returncode == 1
    assert "no pane wt/nope" in result.stderr
    assert "isolation" not in result.stderr


SLOW_DAEMON_START = """
import time
if b"daemon" in open("/proc/self/cmdline", "rb").read().split(b"\\0"):
    time.sleep(120)  # the daemon cannot answer before the test's ctrl+c, however busy the machine
"""


def test_ctrl_c_during_up_stops_the_daemon_it_was_starting(wzp_env: WzpEnv) -> None:
    wzp_env.write_config("framework:\n  max_workspaces: 4\n")
    slow = wzp_env.root / "slow-daemon"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text(SLOW_DAEMON_START)
    children: list[psutil.Process] = []

    def daemon_spawned(up: subprocess.Popen[str]) -> None:
        parent = psutil.Process(up.pid)
        deadline = time.monotonic() + 30
        while not parent.children() and time.monotonic() < deadline:
            time.sleep(0.002)
        children.extend(parent.children())

    up = ctrl_c(wzp_env, ["up"], daemon_spawned, extra_env={"PYTHONPATH": str(slow)})
    (started,) = children
    assert "Aborted!" not in up.stderr
    assert up.returncode == 130, up
    assert "stopped the daemon that was starting" in up.stderr
    assert not started.is_running() or started.status() == psutil.STATUS_ZOMBIE
    assert wzp_env.wzp("ping").returncode == 3


def test_events_show_short_durations_and_one_line_each() -> None:
    from wzp_supervisor.cli.task_cmds import _render_event

    line = _render_event(
        {
            "ts": 1.0,
            "seq": 3,
            "event": "TaskCompleted",
            "duration": 0.4607231616973877,
            "uptime": 12.345678,
            "since": 1764000000.25,
            "ratio": 0.333333333,
            "result": "first line\nsecond line\x1b]0;x\x07",
        }
    )
    assert "duration=0.46s" in line and "uptime=12.35s" in line and "ratio=0.333 " in line
    assert re.search(r"since=\d\d:\d\d:\d\d", line)
    assert "\n" not in line and "\x1b" not in line and "\x07" not in line
    assert "first line\\nsecond line" in line


def test_dashboard_header_counts_agents_as_agents(wzp_env: WzpEnv) -> None:
    import io

    from rich.console import Console

    from tests.observe_support import SLEEP, create_workspace, pane_yaml, pool_config
    from wzp_supervisor.cli.dashboard import Dashboard

    panes = (
        pane_yaml("agent-1", "top_left", SLEEP, agent="claude")
        + pane_yaml("agent-2", "top_right", SLEEP, agent="claude")
        + pane_yaml("shell", "bottom_left", SLEEP)
    )
    wzp_env.write_config(pool_config(panes))
    wzp_env.wzp("up", check=True)
    create_workspace(wzp_env, "demo")
    board = Dashboard()
    board.refresh()
    console = Console(file=io.StringIO(), width=160, record=True, color_system=None)
    console.print(board.render())
    text = console.export_text()
    assert "1 workspace · 2 agents · 1 other pane ·" in text


def _leaf_commands() -> list[list[str]]:
    import click

    from wzp_supervisor.cli.root import main

    found: list[list[str]] = []

    def walk(command: click.Command, path: list[str]) -> None:
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                walk(sub, [*path, name])
        else:
            found.append(path)

    walk(main, [])
    return found


def test_every_commands_help_has_an_example(wzp_env: WzpEnv) -> None:
    commands = _leaf_commands()
    assert ["task", "send"] in commands and ["doctor"] in commands
    for path in commands:
        text = wzp_env.wzp(*path, "--help", check=True).stdout
        match = re.search(r"Example:\n +(wzp .*)", text)
        assert match, path
        assert match.group(1).startswith("wzp " + " ".join(path)), (path, match.group(1))


def test_root_help_groups_commands_like_the_readme(wzp_env: WzpEnv) -> None:
    text = wzp_env.wzp("--help", check=True).stdout
    titles = [line[:-1] for line in text.splitlines() if line.endswith(":") and line[0] != " "]
    assert titles[titles.index("Options") + 1 :] == [
        "Daemon",
        "Workspaces",
        "Processes",
        "Sessions",
        "Tasks and events",
        "Observing",
        "Configuration",
    ]
    assert "Commands:" not in text


def test_ctrl_c_in_any_command_exits_130_without_click_aborted(wzp_env: WzpEnv) -> None:
    with FakeHub(wzp_env.runtime_dir / "hub.sock", reply=False) as hub:  # never answers
        ping = ctrl_c(wzp_env, ["ping"], lambda _: wzp_env.wait_for(hub.messages, what="a ping"))
    assert ping.returncode == 130, ping.stderr
    assert "Aborted!" not in ping.stderr and "Traceback" not in ping.stderr
    assert ping.stdout == ""
