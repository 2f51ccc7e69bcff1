"""The Lua plugin's state table mirrors wzp_supervisor/states.py (run with a real Lua 5.4)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from wzp_supervisor import states

REPO = Path(__file__).resolve().parent.parent
LUA = shutil.which("lua5.4") or shutil.which("lua")

DUMP = r"""
package.path = arg[1] .. '/lua/?.lua;' .. arg[1] .. '/lua/?/init.lua;' .. package.path
local s = require('wezterm_parallel.states')
local function list(t)
  local out = {}
  for _, v in ipairs(t) do out[#out + 1] = string.format('%q', v) end
  return '[' .. table.concat(out, ',') .. ']'
end
local groups = {}
for name, members in pairs(s.GROUPS) do
  groups[#groups + 1] = string.format('%q', name) .. ':' .. list(members)
end
local folded = {}
for k, v in pairs(s.FOLDED) do folded[#folded + 1] = string.format('%q:%q', k, v) end
print('{"shown":' .. list(s.SHOWN_STATES) .. ',"alert":' .. list(s.ALERT_STATES)
  .. ',"groups":{' .. table.concat(groups, ',') .. '},"folded":{'
  .. table.concat(folded, ',') .. '}}')
"""


@pytest.mark.skipif(LUA is None, reason="no Lua interpreter on PATH")
def test_lua_states_match_python(tmp_path: Path) -> None:
    assert LUA is not None
    script = tmp_path / "dump.lua"
    script.write_text(DUMP)
    done = subprocess.run(
        [LUA, str(script), str(REPO)], capture_output=True, text=True, timeout=30, check=True
    )
    lua = json.loads(done.stdout)
    assert lua["shown"] == list(states.SHOWN_STATES)
    assert lua["alert"] == list(states.ALERT_STATES)
    assert lua["folded"] == states.FOLDED
    assert {k: tuple(v) for k, v in lua["groups"].items()} == states.GROUPS


def test_every_agent_state_is_shown_and_grouped() -> None:
    for state in states.AGENT_STATES:
        assert state in states.SHOWN_STATES or states.FOLDED.get(state) in states.SHOWN_STATES
        assert any(state in members for members in states.GROUPS.values())
    assert {"stalled", "error"} <= set(states.GROUPS["attention"])
    assert set(states.AGENT_STATES) >= states.READY_STATES
