"""`wzp workspace create` from a shell lays the panes out with `wezterm cli` (issue #6).

WezTerm cannot run here: a recording `wezterm` executable on PATH stands in for its CLI,
answering pane ids the way `wezterm cli spawn/split-pane` print them.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

from tests.conftest import WzpEnv

FAKE_WEZTERM = """#!/bin/sh
# records its argv as one JSON line and prints a new pane id, like `wezterm cli spawn`
n=$(wc -l < "$WEZTERM_LOG" 2>/dev/null || echo 0)
python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$@" >> "$WEZTERM_LOG"
echo $((n + 40))
"""


def fake_wezterm(env: WzpEnv) -> Path:
    bin_dir = env.root / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "wezterm"
    exe.write_text(FAKE_WEZTERM)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    log = env.root / "wezterm.log"
    env.env.update(
        PATH=f"{bin_dir}:{env.env['PATH']}",
        WEZTERM_LOG=str(log),
        WEZTERM_UNIX_SOCKET=str(env.root / "wezterm.sock"),
    )
    return log


def test_create_lays_out_the_plan_with_wezterm_cli(daemon: WzpEnv) -> None:
    log = fake_wezterm(daemon)
    result = daemon.wzp(
        "workspace",
        "create",
        "demo",
        "--template",
        "default",
        "--dir",
        str(daemon.work),
        check=True,
    )
    assert "opened 3 panes in WezTerm workspace demo" in result.stdout
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [c[:3] for c in calls] == [
        ["cli", "--no-auto-start", "spawn"],
        ["cli", "--no-auto-start", "split-pane"],
        ["cli", "--no-auto-start", "split-pane"],
    ]
    spawn, right, bottom = calls
    assert spawn[3:8] == ["--new-window", "--workspace", "demo", "--cwd", str(daemon.work)]
    assert spawn[spawn.index("--") + 1 :][-2:] == ["attach", "demo/agent-1"]
    # explicit pane ids: agent-2 splits agent-1's pane (40), the monitor splits agent-2's (41)
    assert right[right.index("--pane-id") + 1] == "40"
    assert "--right" in right
    assert right[right.index("--percent") + 1] == "67"  # three equal columns
    assert right[right.index("--") + 1 :][-2:] == ["attach", "demo/agent-2"]
    assert bottom[bottom.index("--pane-id") + 1] == "41"
    assert "--right" in bottom
    assert bottom[bottom.index("--percent") + 1] == "50"
    assert bottom[bottom.index("--") + 1 :][-1:] == ["top"]


def test_without_wezterm_it_prints_attach_commands(daemon: WzpEnv) -> None:
    env = {k: v for k, v in daemon.env.items() if k != "WEZTERM_UNIX_SOCKET"}
    daemon.env.clear()
    daemon.env.update(env)
    result = daemon.wzp("workspace", "create", "demo", "--dir", str(daemon.work), check=True)
    assert "attach: wzp attach demo/agent-1" in result.stdout
    switch = daemon.wzp("workspace", "switch", "demo", check=True)
    assert "WezTerm is not running here" in switch.stdout
    assert "attach demo/agent-2" in switch.stdout
