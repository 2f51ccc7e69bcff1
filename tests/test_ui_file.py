"""The ui file: built from the config, written atomically 0600, read by the Lua plugin."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, WzpEnv
from wzp_supervisor import paths
from wzp_supervisor.config import parse_config_text
from wzp_supervisor.ui_file import build_ui_document, ui_file_path, write_ui_file

CONFIG = """\
ui:
  theme:
    busy: "#112233"
  status_bar:
    show_resources: false
  keybindings:
    create_workspace: "ctrl+alt+n"
    kill_process: "ctrl+alt+k"
workspaces:
  templates:
    solo:
      layout: single
      description: One agent
      panes:
        - {name: main, position: main}
"""


def test_document_carries_what_the_plugin_needs() -> None:
    doc = build_ui_document(parse_config_text(CONFIG, "config.yaml", path=Path("/c/config.yaml")))
    assert doc["schema"] == 1
    assert doc["config_path"] == "/c/config.yaml"
    assert doc["keybindings"]["create_workspace"] == "ctrl+alt+n"
    assert doc["keybindings"]["kill_process"] == "ctrl+alt+k"
    assert isinstance(doc["theme"], dict)
    assert doc["theme"]["busy"] == "#112233"
    assert doc["status_bar"] == {"enabled": True, "update_interval": 1.0, "show_resources": False}
    assert doc["show_process_status"] is True
    assert doc["auto_hide_inactive_panes"] is False
    assert doc["templates"]["solo"] == {
        "layout": "single",
        "description": "One agent",
        "panes": ["main"],
    }
    assert "default" in doc["templates"]
    json.dumps(doc)  # plain JSON all the way down


def test_path_is_beside_status_json(wzp_env: WzpEnv) -> None:
    assert ui_file_path().parent == paths.status_json().parent
    assert ui_file_path().name == "ui.json"


def test_write_is_atomic_and_private(wzp_env: WzpEnv) -> None:
    path = ui_file_path()
    doc = build_ui_document(parse_config_text(CONFIG, "config.yaml"))
    write_ui_file(path, doc)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["keybindings"]["create_workspace"] == "ctrl+alt+n"
    # a second write replaces it whole and leaves no temp file behind
    doc["keybindings"] = {}
    write_ui_file(path, doc)
    assert json.loads(path.read_text())["keybindings"] == {}
    assert sorted(os.listdir(path.parent)) == ["ui.json"]


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "ui.json"
    doc = build_ui_document(parse_config_text(CONFIG, "config.yaml"))
    write_ui_file(path, doc)
    before = path.read_bytes()
    tmp_path.chmod(0o500)
    try:
        if os.access(tmp_path, os.W_OK):
            pytest.skip("running as a user that may write anywhere (root)")
        with pytest.raises(OSError):
            write_ui_file(path, doc)
    finally:
        tmp_path.chmod(0o700)
    assert path.read_bytes() == before


LUA = r"""
package.path = 'lua/?.lua;lua/?/init.lua;spec/support/?.lua;' .. package.path
local double = require 'wezterm_double'
local wezterm = double.install()
local plugin = require 'wezterm_parallel'
local config = plugin.setup(wezterm.config_builder(), { wzp = '/nonexistent/wzp' })
local keys = {}
for _, k in ipairs(config.keys) do
  for name, action in pairs(plugin.actions) do
    if action == k.action then keys[name] = k.mods .. '+' .. k.key end
  end
end
print(wezterm.json_encode { keys = keys, calls = #double.calls,
  status_bar = #double.handlers('update-status') })
"""


@pytest.mark.skipif(shutil.which("lua5.4") is None, reason="lua5.4 is not installed")
def test_the_plugin_reads_the_file_python_writes(wzp_env: WzpEnv) -> None:
    write_ui_file(ui_file_path(), build_ui_document(parse_config_text(CONFIG, "config.yaml")))
    result = subprocess.run(
        ["lua5.4", "-e", LUA],
        cwd=REPO,
        env={**os.environ, **wzp_env.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out = json.loads(result.stdout)
    assert out["keys"]["create_workspace"] == "CTRL|ALT+n"
    assert out["keys"]["kill_process"] == "CTRL|ALT+k"
    assert out["keys"]["switch_workspace"] == "CTRL|SHIFT+w"
    assert out["calls"] == 0  # no child process while the config is evaluated
    assert out["status_bar"] == 1
