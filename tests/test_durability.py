"""What the daemon acknowledged survives: bad state files, a full disk, stray files in the
backups, a SIGKILL right after a reply, and a SIGKILL in the middle of a reload."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WzpEnv
from tests.support import SLEEP, config_with, kill_daemon, pane, running_pid, start
from wzp_supervisor.state_store import StateStore

BAD_SHAPES: list[tuple[str, Any]] = [
    ("workspace without template", {"schema": 1, "workspaces": {"alpha": {}}, "processes": {}}),
    ("workspaces a list", {"schema": 1, "workspaces": [1, 2], "processes": {}}),
    (
        "dir a number",
        {"schema": 1, "workspaces": {"a": {"template": "t", "dir": 5}}, "processes": {}},
    ),
    (
        "created a string",
        {
            "schema": 1,
            "workspaces": {"a": {"template": "t", "dir": "/", "created": "x"}},
            "processes": {},
        },
    ),
    ("processes a list", {"schema": 1, "workspaces": {}, "processes": [1]}),
    ("process record a string", {"schema": 1, "workspaces": {}, "processes": {"a/b": "x"}}),
    (
        "restarts a string",
        {"schema": 1, "workspaces": {}, "processes": {"a/b": {"restarts": "many"}}},
    ),
]


def deep_nesting(depth: int = 200_000) -> str:
    return '{"schema": 1, "workspaces": ' + "[" * depth + "]" * depth + "}"


def good_state(directory: Path) -> dict[str, Any]:
    return {
        "schema": 1,
        "workspaces": {"demo": {"template": "t", "dir": os.fspath(directory), "created": 1.0}},
        "processes": {"demo/a1": {"desired": "running", "restarts": 2}},
    }


@pytest.mark.parametrize("name,document", BAD_SHAPES, ids=[n for n, _ in BAD_SHAPES])
def test_a_state_file_of_the_wrong_shape_falls_back_to_the_newest_valid_backup(
    tmp_path: Path, name: str, document: Any
) -> None:
    store = StateStore(tmp_path / "state.json", tmp_path / "backups")
    store.save(good_state(tmp_path))
    store.save(good_state(tmp_path))  # the first file is now a backup too
    (tmp_path / "state.json").write_text(json.dumps(document))
    loaded = StateStore(tmp_path / "state.json", tmp_path / "backups")
    state = loaded.load()
    assert state["workspaces"]["demo"]["template"] == "t", name
    assert state["processes"]["demo/a1"]["restarts"] == 2
    assert any("state.json" in w and "restored" in w for w in loaded.warnings), loaded.warnings
    assert list(tmp_path.glob("state.json.corrupt-*")), "the bad file is kept aside"


def test_a_deeply_nested_state_file_does_not_crash_the_load(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json", tmp_path / "backups")
    store.save(good_state(tmp_path))
    store.save(good_state(tmp_path))
    (tmp_path / "state.json").write_text(deep_nesting())
    loaded = StateStore(tmp_path / "state.json", tmp_path / "backups")
    assert "demo" in loaded.load()["workspaces"]
    assert loaded.warnings


def test_stray_files_in_backups_neither_break_saves_nor_count_as_backups(tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    (backups / "state.manual-copy.json").write_text("mine")
    (backups / "state.json.bak").write_text("{")
    store = StateStore(tmp_path / "state.json", backups, keep=3)
    for i in range(8):
        store.save({**good_state(tmp_path), "n": i})
    names = sorted(p.name for p in backups.iterdir())
    assert "state.manual-copy.json" in names and "state.json.bak" in names
    ours = [n for n in names if n not in ("state.manual-copy.json", "state.json.bak")]
    assert len(ours) == 3, names
    assert all((backups / n).stat().st_size > 0 for n in ours)
    (tmp_path / "state.json").write_text("{ corrupt")
    loaded = StateStore(tmp_path / "state.json", backups, keep=3)
    assert loaded.load()["n"] == 6  # the newest backup: the file before the last save


def test_daemon_starts_from_a_valid_backup_and_says_so(wzp_env: WzpEnv) -> None:
    start(wzp_env, config_with(pane("a1", "top_left", SLEEP)))
    running_pid(wzp_env, "demo/a1")
    wzp_env.wzp("stop", "demo/a1", check=True)  # another save, so a backup exists
    wzp_env.wzp("down", check=True)
    state = wzp_env.state_dir / "state.json"
    state.write_text(json.dumps({"schema": 1, "workspaces": {"demo": {}}, "processes": {}}))
    up = wzp_env.wzp("up")
    assert up.returncode == 0, up.stderr
    assert "state" in up.stderr and "restored" in up.stderr  # said at once, on stderr
    assert [w["name"] for w in wzp_env.status()["workspaces"]] == ["demo"]
    events = wzp_env.wzp("events", "--json", check=True).stdout
    assert "state.json" in events and "restored" in events


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str = "2m") -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", os.fspath(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", os.fspath(path)], capture_output=True)


def fill(directory: Path) -> None:
    """Fill the filesystem of ``directory`` to the last byte."""
    for name, block in (("filler", 65536), ("filler2", 512)):
        fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * block)
        finally:
            os.close(fd)


def test_on_a_full_disk_a_change_is_refused_not_lost(wzp_env: WzpEnv) -> None:
    mount = wzp_env.root / "statefs"
    with small_tmpfs(mount):
        wzp_env.env["XDG_STATE_HOME"] = os.fspath(mount)
        start(wzp_env, config_with(pane("a1", "top_left", SLEEP)), workspace="first")
        running_pid(wzp_env, "first/a1")
        fill(mount)
        refused = wzp_env.wzp("workspace", "create", "second", "--dir", str(wzp_env.work))
        assert refused.returncode == 1, refused.stdout
        assert "could not save" in refused.stderr and "No space left" in refused.stderr
        assert "second" not in [w["name"] for w in wzp_env.status()["workspaces"]]
        events = wzp_env.wzp("events", "--json", check=True).stdout
        assert "could not save" in events
        for name in ("filler", "filler2"):
            (mount / name).unlink()
        wzp_env.wzp("workspace", "create", "third", "--dir", str(wzp_env.work), check=True)
        kill_daemon(wzp_env)
        wzp_env.wzp("up", check=True)
        names = sorted(w["name"] for w in wzp_env.status()["workspaces"])
        assert names == ["first", "third"]
        backups = mount / "wezterm-parallel" / "backups"
        sizes = [p.stat().st_size for p in backups.iterdir()] if backups.exists() else []
        assert all(size > 0 for size in sizes) and len(sizes) <= 5, sizes
        wzp_env.wzp("down", check=True)


def test_acknowledged_tasks_survive_a_sigkill_and_ids_are_never_reused(wzp_env: WzpEnv) -> None:
    start(wzp_env, config_with(pane("a1", "top_left", SLEEP, agent="claude")))
    ids = []
    for i in range(50):
        reply = wzp_env.wzp("task", "submit", f"prompt {i}", "--json", check=True)
        ids.append(json.loads(reply.stdout)["task"]["id"])
    kill_daemon(wzp_env)
    wzp_env.wzp("up", check=True)
    listed = json.loads(wzp_env.wzp("task", "list", "--json", check=True).stdout)
    tasks = listed["tasks"] if isinstance(listed, dict) else listed
    assert sorted(t["id"] for t in tasks) == sorted(ids)
    wzp_env.wzp("task", "cancel", ids[-1], check=True)
    kill_daemon(wzp_env)
    wzp_env.wzp("up", check=True)
    reply = wzp_env.wzp("task", "submit", "after the restart", "--json", check=True)
    new_id = json.loads(reply.stdout)["task"]["id"]
    assert new_id not in ids and int(new_id[1:]) > max(int(i[1:]) for i in ids)


STUBBORN = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
    "time.sleep(10000)  # v1"
)


def test_a_daemon_killed_during_reload_leaves_the_replaced_pane_wanted_running(
    wzp_env: WzpEnv,
) -> None:
    slow_stop = "    timeout: 20"  # seconds between SIGTERM and SIGKILL
    start(wzp_env, config_with(pane("a1", "top_left", STUBBORN), extra=slow_stop))
    running_pid(wzp_env, "demo/a1")
    wzp_env.write_config(
        config_with(pane("a1", "top_left", STUBBORN.replace("v1", "v2")), extra=slow_stop)
    )
    reload = subprocess.Popen(
        [sys.executable, "-m", "wzp_supervisor", "reload", "--wait"],
        env=wzp_env.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wzp_env.wait_for(
            lambda: wzp_env.process("demo/a1")["state"] == "stopping", what="a1 stopping"
        )
        kill_daemon(wzp_env)
    finally:
        reload.wait(timeout=60)
    saved = json.loads((wzp_env.state_dir / "state.json").read_text())
    assert saved["processes"]["demo/a1"]["desired"] == "running"
    for proc in wzp_env.our_processes():  # the stubborn v1 is SIGKILLed by the test
        with contextlib.suppress(Exception):
            proc.kill()
    wzp_env.wzp("up", check=True)
    running_pid(wzp_env, "demo/a1")
    assert "v2" in " ".join(wzp_env.process("demo/a1")["command"])
