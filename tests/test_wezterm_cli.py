"""`wzp workspace create/switch` from a shell shows the workspace through `wezterm cli`.

WezTerm cannot run here: a recording `wezterm` executable on PATH stands in for its CLI,
answering pane ids the way `wezterm cli spawn/split-pane` print them and `list --format json`
from a file the test writes (WezTerm's own fields).
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from tests.conftest import WzpEnv

FAKE_WEZTERM = """#!/bin/sh
# records its argv as one JSON line; `cli ... list --format json` prints $WEZTERM_LIST;
# spawn/split-pane print a new pane id (40, 41, ...), like `wezterm cli spawn`
python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$@" >> "$WEZTERM_LOG"
case " $* " in
  *" list "*) cat "$WEZTERM_LIST" 2>/dev/null || echo '[]' ;;
  *" spawn "*|*" split-pane "*)
    n=$(grep -c '"spawn"\\|"split-pane"' "$WEZTERM_LOG")
    echo $((n + 39)) ;;
esac
"""


def fake_wezterm(env: WzpEnv) -> Path:
    bin_dir = env.root / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "wezterm"
    exe.write_text(FAKE_WEZTERM)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    log = env.root / "wezterm.log"
    env.env.pop("WEZTERM_PANE", None)
    env.env.update(
        PATH=f"{bin_dir}:{env.env['PATH']}",
        WEZTERM_LOG=str(log),
        WEZTERM_LIST=str(env.root / "wezterm-list.json"),
        WEZTERM_UNIX_SOCKET=str(env.root / "wezterm.sock"),
    )
    return log


def wezterm_has(env: WzpEnv, panes: list[dict[str, Any]]) -> None:
    """What `wezterm cli list --format json` answers (rows with WezTerm's field names)."""
    rows = []
    for p in panes:
        rows.append(
            {
                "window_id": p.get("window_id", 0),
                "tab_id": p.get("tab_id", 0),
                "pane_id": p["pane_id"],
                "workspace": p.get("workspace", "default"),
                "size": {
                    "rows": 24,
                    "cols": 80,
                    "pixel_width": 640,
                    "pixel_height": 384,
                    "dpi": 96,
                },
                "title": "zsh",
                "cwd": "file:///home/u",
                "cursor_x": 0,
                "cursor_y": 0,
                "cursor_shape": "Default",
                "cursor_visibility": "Visible",
                "left_col": 0,
                "top_row": 0,
                "tab_title": p.get("tab_title", ""),
                "window_title": "zsh",
                "is_active": True,
                "is_zoomed": False,
                "tty_name": "/dev/pts/3",
            }
        )
    Path(env.env["WEZTERM_LIST"]).write_text(json.dumps(rows))


def calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def layout_calls(log: Path) -> list[list[str]]:
    return [c for c in calls(log) if c[2] in ("spawn", "split-pane")]


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
    # outside a WezTerm pane: a new window of workspace demo, and how to get there
    assert "ctrl+shift+w" in result.stdout
    assert calls(log)[0] == ["cli", "--no-auto-start", "list", "--format", "json"]
    laid = layout_calls(log)
    assert [c[:3] for c in laid] == [
        ["cli", "--no-auto-start", "spawn"],
        ["cli", "--no-auto-start", "split-pane"],
        ["cli", "--no-auto-start", "split-pane"],
    ]
    spawn, right, bottom = laid
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


def test_in_a_wezterm_pane_it_opens_a_visible_tab(daemon: WzpEnv) -> None:
    log = fake_wezterm(daemon)
    wezterm_has(daemon, [{"pane_id": 7, "tab_id": 3, "window_id": 1, "workspace": "default"}])
    daemon.env["WEZTERM_PANE"] = "7"
    result = daemon.wzp("workspace", "create", "demo", "--dir", str(daemon.work), check=True)
    assert "a new tab wzp:demo of this window" in result.stdout
    spawn = layout_calls(log)[0]
    assert spawn[3:5] == ["--pane-id", "7"]  # a tab in the window of pane 7, not a new window
    assert "--new-window" not in spawn
    assert calls(log)[-1] == [
        "cli",
        "--no-auto-start",
        "set-tab-title",
        "--pane-id",
        "40",
        "wzp:demo",
    ]


def test_switch_reuses_what_wezterm_already_shows(daemon: WzpEnv) -> None:
    log = fake_wezterm(daemon)
    daemon.wzp("workspace", "create", "demo", "--dir", str(daemon.work), check=True)
    log.unlink()
    # a tab wzp:demo in this window's workspace: activated, nothing laid out
    wezterm_has(
        daemon,
        [
            {"pane_id": 7, "tab_id": 3, "workspace": "default"},
            {"pane_id": 40, "tab_id": 5, "workspace": "default", "tab_title": "wzp:demo"},
        ],
    )
    daemon.env["WEZTERM_PANE"] = "7"
    result = daemon.wzp("workspace", "switch", "demo", check=True)
    assert "already open in this WezTerm window: switched to it" in result.stdout
    assert layout_calls(log) == []
    assert calls(log)[-1] == ["cli", "--no-auto-start", "activate-tab", "--tab-id", "5"]
    # a window of WezTerm workspace demo: not shown, so the message says how to get there
    log.unlink()
    wezterm_has(
        daemon,
        [
            {"pane_id": 7, "tab_id": 3, "workspace": "default"},
            {"pane_id": 50, "tab_id": 9, "window_id": 4, "workspace": "demo"},
        ],
    )
    result = daemon.wzp("workspace", "switch", "demo", check=True)
    assert "already open in WezTerm (workspace demo, window 4)" in result.stdout
    assert "ctrl+shift+w" in result.stdout
    assert layout_calls(log) == []


def test_without_wezterm_it_prints_attach_commands(daemon: WzpEnv) -> None:
    env = {k: v for k, v in daemon.env.items() if k != "WEZTERM_UNIX_SOCKET"}
    daemon.env.clear()
    daemon.env.update(env)
    result = daemon.wzp("workspace", "create", "demo", "--dir", str(daemon.work), check=True)
    assert "attach: wzp attach demo/agent-1" in result.stdout
    switch = daemon.wzp("workspace", "switch", "demo", check=True)
    assert "WezTerm is not running here" in switch.stdout
    assert "attach demo/agent-2" in switch.stdout
