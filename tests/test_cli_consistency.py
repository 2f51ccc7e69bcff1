"""Small CLI consistency promises: `down` with nothing running, a closed output pipe,
help that names every TARGET form, and `--no-layout` for the WezTerm plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import wzp_supervisor
from tests.conftest import WzpEnv
from tests.test_wezterm_cli import fake_wezterm


def test_down_without_a_daemon_succeeds_and_says_so(wzp_env: WzpEnv) -> None:
    result = wzp_env.wzp("down")
    assert result.returncode == 0, result.stderr
    assert "not running" in result.stdout
    assert "nothing to stop" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("status",),
        ("status", "--json"),
        ("status", "--format", "table"),
        ("list", "--json"),  # plain `list` prints nothing without processes
        ("workspace", "list"),
        ("task", "list"),
        ("--help",),
    ],
)
def test_output_into_a_closed_pipe_ends_without_a_traceback(
    daemon: WzpEnv, args: tuple[str, ...]
) -> None:
    """`wzp status | head -1`: the reader is gone before wzp writes."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "wzp_supervisor", *args],
            env=daemon.env,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr, done.stderr
    assert "BrokenPipeError" not in done.stderr, done.stderr
    assert done.returncode == 1


@pytest.mark.parametrize("verb", ["start", "stop", "restart", "kill"])
def test_control_help_names_every_target_form(wzp_env: WzpEnv, verb: str) -> None:
    text = " ".join(wzp_env.wzp(verb, "--help", check=True).stdout.split())
    assert "TARGET (ws, ws/pane or all)" in text


def test_no_layout_leaves_the_panes_to_the_plugin(daemon: WzpEnv) -> None:
    log = fake_wezterm(daemon)
    created = daemon.wzp(
        "workspace", "create", "demo", "--dir", str(daemon.work), "--no-layout", check=True
    )
    assert "workspace demo created" in created.stdout
    assert "opened" not in created.stdout
    switched = daemon.wzp("workspace", "switch", "demo", "--no-layout", check=True)
    assert switched.stdout == ""
    assert not log.exists()  # `wezterm cli` was never run

    missing = daemon.wzp("workspace", "switch", "nope", "--no-layout")
    assert missing.returncode == 1 and "no workspace named 'nope'" in missing.stderr

    # without the flag the same calls lay the panes out
    daemon.wzp("workspace", "switch", "demo", check=True)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    # it first asks which windows already show the workspace, then opens one
    assert [c[2] for c in calls] == ["list", "spawn", "split-pane", "split-pane"]


def test_the_fast_paths_import_only_the_standard_library() -> None:
    """The hook command and the status view run before click; nothing else may come in."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import wzp_supervisor.cli.hook, wzp_supervisor.cli.status_view; "
        "print('\\n'.join(sorted(sys.modules)))"
    )
    package_parent = str(Path(wzp_supervisor.__file__).resolve().parent.parent)
    done = subprocess.run(
        [sys.executable, "-S", "-c", code, package_parent],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    foreign = {
        name
        for name in done.stdout.split()
        if name.split(".")[0] not in sys.stdlib_module_names
        and name.split(".")[0] not in ("wzp_supervisor", "__main__")
    }
    assert foreign == set()
