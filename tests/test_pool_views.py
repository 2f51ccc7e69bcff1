"""A pool in the everyday views: ``wzp status``, ``stats``, ``top``, the dashboard, status.json
and the WezTerm status bar, shown from a real daemon whose pool runs the real Claude Code CLI
against the loopback model stub."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from tests.claude_env import QUIET_ENV, claude_binary, seed_claude_home
from tests.conftest import WzpEnv
from tests.model_stub import ModelStub
from tests.observe_support import SLEEP, create_workspace, pane_yaml, pool_config
from tests.pool_support import hub, start_daemon, the_pool, wait_until
from wzp_supervisor.cli import tables
from wzp_supervisor.cli.dashboard import Dashboard

pytestmark = pytest.mark.timeout(600)

REPO = Path(__file__).resolve().parent.parent


def paused_pool(env: WzpEnv, stub: ModelStub) -> dict[str, Any]:
    """Pool ``review`` with one finished task (a cost), one worker busy on a stalled turn, one
    idle worker, one task queued behind a rate limit (retry after 15 minutes)."""
    start_daemon(env, stub, "review", min=1, max=2)
    wait_until(lambda: [w["state"] for w in the_pool()["workers"]] == ["idle"], "the warm spare")
    first = hub("task.submit", prompt="warm up", pool="review")["task"]["id"]
    while not hub("task.wait", task=first, timeout=20)["done"]:
        pass
    stub.reply_stall(seconds=3600)
    hub("task.submit", prompt="long review", pool="review")
    wait_until(lambda: the_pool()["running"] == 1 and stub.pending() == 0, "the stalled turn")
    stub.reply_error(429, "rate limited", headers={"retry-after": "900"})
    hub("task.submit", prompt="limited", pool="review")

    def settled() -> dict[str, Any] | None:
        pool = the_pool()
        states = sorted(w["state"] for w in pool["workers"])
        ready = pool["rate_limited_until"] and pool["queued"] == 1 and states == ["busy", "idle"]
        return pool if ready else None

    return dict(wait_until(settled, "the pool to pause with one busy and one idle worker"))


def hhmm(epoch: float) -> str:
    return time.strftime("%H:%M", time.localtime(epoch))


def read_status_json(env: WzpEnv) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((env.runtime_dir / "status.json").read_text())
    return data


LUA_BAR = r"""
package.path = 'lua/?.lua;lua/?/init.lua;spec/support/?.lua;' .. package.path
local double = require 'wezterm_double'
local wezterm = double.install()
local plugin = require 'wezterm_parallel'
plugin.setup(wezterm.config_builder(), { status_file = arg[1], read_config = false,
  keys = false, clock = function() return tonumber(arg[2]) end })
local tab, pane, window = wezterm.mux.spawn_window { workspace = 'default' }
local gui = double.gui(window)
double.tick(gui)
print(double.strip(gui.right_status))
"""


def lua_status_bar(status_file: Path, now: float) -> str:
    result = subprocess.run(
        ["lua5.4", "-e", f"arg = {{{json.dumps(str(status_file))}, '{now}'}}", "-e", LUA_BAR],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_the_pool_shows_in_status_stats_top_dashboard_and_status_json(
    wzp_env: WzpEnv, model_stub: ModelStub
) -> None:
    pool = paused_pool(wzp_env, model_stub)
    until = hhmm(pool["rate_limited_until"])
    line = (
        "pool review: 2/2 workers (1 busy, 1 idle), 1 queued, 1 running, "
        f"rate-limited until {until}"
    )

    # wzp status: the fast path and the click one; no panes, yet the pool is shown
    for args in (("status",), ("status", "--format", "table")):
        shown = wzp_env.wzp(*args, check=True).stdout
        assert line in shown.splitlines(), (args, shown)
        assert "no supervised processes" not in shown
    data = json.loads(wzp_env.wzp("status", "--json", check=True).stdout)
    assert set(data) == {"daemon", "workspaces", "processes", "pools"}
    [listed] = data["pools"]
    assert listed["name"] == "review" and listed["queued"] == 1 and listed["running"] == 1

    # wzp stats / top: a pool table with the pool's cost (no worker has stopped yet: the
    # cost of its workers)
    current = the_pool()
    cost = current["cost_usd"]
    assert cost > 0 and cost == pytest.approx(sum(w["cost_usd"] for w in current["workers"]))
    stats = wzp_env.wzp("stats", check=True).stdout
    assert "no supervised processes" not in stats
    header = next(s for s in stats.splitlines() if s.startswith("POOL"))
    columns = "POOL WORKERS BUSY IDLE QUEUED RUNNING COST RATE-LIMITED"
    assert header.split() == columns.split()
    row = next(s for s in stats.splitlines() if s.startswith("review"))
    assert row.split() == ["review", "2/2", "1", "1", "1", "1", f"${cost:.4f}", "until", until]
    stats_json = json.loads(wzp_env.wzp("stats", "--json", check=True).stdout)
    assert [p["name"] for p in stats_json["pools"]] == ["review"]
    top = wzp_env.wzp("top", "--count", "1", check=True).stdout
    assert row in top.splitlines() and "no processes" not in top
    frame = json.loads(wzp_env.wzp("top", "--json", "--count", "1", check=True).stdout)
    assert frame["pools"][0]["queued"] == 1

    # the dashboard, fed the daemon's own status reply
    reply = hub("status")
    board = Dashboard(request=lambda kind, **_: reply)
    board.refresh()
    console = Console(file=io.StringIO(), width=160, record=True, color_system=None)
    console.print(board.render())
    screen = console.export_text()
    assert line in screen
    assert "no agents; create a workspace" not in screen

    # status.json: per pool counts of tasks and of workers by state
    counts = read_status_json(wzp_env)["pools"]["review"]
    assert {k: counts[k] for k in ("queued", "running", "workers", "idle", "busy")} == {
        "queued": 1,
        "running": 1,
        "workers": 2,
        "idle": 1,
        "busy": 1,
    }
    assert counts["max"] == 2 and counts["rate_limited_until"] == pool["rate_limited_until"]

    # the WezTerm status bar, reading the file the daemon wrote
    if shutil.which("lua5.4") is not None:
        snapshot = wzp_env.root / "status-snapshot.json"
        snapshot.write_bytes((wzp_env.runtime_dir / "status.json").read_bytes())
        bar = lua_status_bar(snapshot, read_status_json(wzp_env)["ts"])
        assert bar.endswith(f" | pool review 1/2 q1 rate-limited until {until}"), bar
        # `wzp status --format wezterm` is the same one-liner
        one_line = wzp_env.wzp("status", "--format", "wezterm", check=True).stdout.strip()
        assert one_line.endswith(bar[bar.index(" | pool") :]), (one_line, bar)


def test_pool_lines_escape_control_characters_in_names() -> None:
    entry: dict[str, Any] = {
        "name": "evil\x1b]0;pwned\x07",
        "min": 0,
        "max": 1,
        "workers": [],
        "queued": 0,
        "running": 0,
        "rate_limited_until": None,
    }
    [line] = tables.pool_lines([entry])  # type: ignore[list-item]
    assert "\x1b" not in line and "\x07" not in line
    assert line == "pool evil\\x1b]0;pwned\\x07: 0/1 workers (0 busy, 0 idle), 0 queued, 0 running"
    text = tables.pool_table([entry])  # type: ignore[list-item]
    assert "\x1b" not in text and "evil\\x1b" in text
    bar = tables.pool_bar([entry])  # type: ignore[list-item]
    assert bar == " | pool evil\\x1b]0;pwned\\x07 0/1 q0"


def test_a_pause_that_is_over_is_not_shown() -> None:
    entry: dict[str, Any] = {
        "name": "review",
        "min": 0,
        "max": 2,
        "workers": [{"name": "review/1", "state": "idle", "cost_usd": 0.25}],
        "queued": 0,
        "running": 0,
        "running_per_workspace": {},
        "cost_usd": 0.5,  # the pool's, stopped workers included
        "rate_limited_until": 1000.0,
    }
    paused = f"rate-limited until {time.strftime('%H:%M', time.localtime(1000.0))}"
    assert tables.pool_lines([entry], now=999.0) == [
        f"pool review: 1/2 workers (0 busy, 1 idle), 0 queued, 0 running, {paused}"
    ]
    assert tables.pool_lines([entry], now=1000.0) == [
        "pool review: 1/2 workers (0 busy, 1 idle), 0 queued, 0 running"
    ]
    assert tables.pool_bar([entry], now=1000.0) == " | pool review 0/2 q0"
    assert tables.pool_table([entry], now=1000.0).splitlines()[1].split() == [
        "review",
        "1/2",
        "0",
        "1",
        "0",
        "0",
        "$0.5000",
        "-",
    ]


def test_pools_follow_the_processes_and_a_target_shows_only_its_processes(
    wzp_env: WzpEnv, model_stub: ModelStub
) -> None:
    home = wzp_env.root / "home"
    seed_claude_home(home, wzp_env.work)
    pool = {
        "command": [str(claude_binary())],
        "cwd": str(wzp_env.work),
        "environment": {"HOME": str(home), "ANTHROPIC_BASE_URL": model_stub.url, **QUIET_ENV},
        "min": 0,
        "max": 3,
    }
    pools = f"pools: {json.dumps({'review': pool})}"
    wzp_env.write_config(pool_config(pane_yaml("s1", "top_left", SLEEP), extra=pools))
    wzp_env.wzp("up", check=True)
    create_workspace(wzp_env, "demo")
    line = "pool review: 0/3 workers (0 busy, 0 idle), 0 queued, 0 running"

    shown = wzp_env.wzp("status", check=True).stdout.splitlines()
    assert shown[0].split()[:2] == ["TARGET", "STATE"] and shown[1].startswith("demo/s1")
    assert shown[2:] == ["", line]
    only = wzp_env.wzp("status", "demo", check=True).stdout
    assert "demo/s1" in only and "pool" not in only
    assert json.loads(wzp_env.wzp("status", "demo", "--json", check=True).stdout)["pools"] == []

    stats = wzp_env.wzp("stats", check=True).stdout
    assert "demo/s1" in stats and "daemon pid" in stats
    assert stats.splitlines()[-1].split() == ["review", "0/3", "0", "0", "0", "0", "$0.0000", "-"]

    board = Dashboard()
    board.refresh()
    console = Console(file=io.StringIO(), width=160, record=True, color_system=None)
    console.print(board.render())
    screen = console.export_text()
    assert "s1" in screen and line in screen
    assert board.selected_target() == "demo/s1"
    assert board.handle_key("j") and board.selected_target() == "demo/s1"  # pools aren't rows
    assert not board.handle_key("q")


def test_a_pool_keeps_the_cost_of_workers_it_has_stopped(wzp_env: WzpEnv, stub: ModelStub) -> None:
    start_daemon(wzp_env, stub, "review", min=0, max=1, idle_timeout=1)
    task = hub("task.submit", prompt="priced", pool="review", wait=True, timeout=50)["task"]
    cost = task["result"]["cost_usd"]
    assert task["state"] == "done" and cost > 0
    wait_until(lambda: the_pool()["workers"] == [], "the idle worker to be stopped")
    assert the_pool()["cost_usd"] == pytest.approx(cost)
    stats = json.loads(wzp_env.wzp("stats", "--json", check=True).stdout)
    [pool] = stats["pools"]
    assert tables.pool_cost(pool) == pytest.approx(cost)
    counts = wait_until(
        lambda: (c := read_status_json(wzp_env)["pools"]["review"])["workers"] == 0 and c,
        "status.json to show the stopped worker",
    )
    assert counts["cost_usd"] == pytest.approx(cost)


def test_the_dashboard_marks_a_pool_only_while_its_pause_lasts() -> None:
    pool: dict[str, Any] = {
        "name": "review",
        "min": 0,
        "max": 2,
        "workers": [],
        "queued": 1,
        "running": 0,
        "running_per_workspace": {},
        "cost_usd": 0.0,
        "rate_limited_until": 1000.0,
    }
    status = {"processes": [], "workspaces": [], "pools": [pool]}

    def drawn(now: float) -> str:
        board = Dashboard(request=lambda kind, **_: status)
        board.refresh()
        out = io.StringIO()
        console = Console(file=out, width=120, force_terminal=True, color_system="standard")
        console.print(board.render(now=now))
        return out.getvalue()

    paused, over = drawn(999.0), drawn(1001.0)
    assert "\x1b[1;33mpool review" in paused and "rate-limited until" in paused
    assert "pool review" in over and "\x1b[1;33mpool review" not in over
    assert "rate-limited" not in over
