#!/usr/bin/env lua5.4
-- Cost per tick of the plugin's update-status handler on a 100-agent status.json, against a
-- trivial handler (set_right_status of a constant) measured in the same run. Prints figures;
-- asserts nothing. Run from the repository root:  lua5.4 bench/bench_lua_status.lua [ticks]
--
-- It runs under the WezTerm double (spec/support/wezterm_double.lua): json_parse there is the
-- pure-Lua dkjson, while WezTerm parses with serde_json in Rust, so the "re-read" figure is an
-- upper bound of the real cost. WezTerm calls the handler once per status_update_interval
-- (1000 ms by default) per window; the plugin re-reads the file at most once a second.

package.path = 'lua/?.lua;lua/?/init.lua;spec/support/?.lua;' .. package.path

local H = require 'helpers'
local double = H.double

local TICKS = tonumber(arg and arg[1]) or 20000
local READ_TICKS = math.max(200, TICKS // 20)

local states = { 'busy', 'idle', 'waiting_input', 'busy', 'starting', 'idle', 'busy', 'fatal', 'backoff', 'idle' }
local agents = {}
for i = 1, 100 do
  agents[i] = states[(i - 1) % #states + 1]
end
local transitions = {}
for i = 1, 20 do
  transitions[i] = { seq = i, target = 'ws1/agent-' .. i, to = i % 5 == 0 and 'fatal' or 'waiting_input',
                     ts = 500 + i, reason = 'permission' }
end

local dir = H.tmpdir()
local path = dir .. '/status.json'
local text = H.encode(H.status_doc(agents, { ts = 1000, cpu = 34.2, rss = 2.1 * 1024 ^ 3, transitions = transitions }))
H.write(path, text)

local function per_tick(n, fn)
  fn() -- warm up
  collectgarbage('collect')
  local t0 = os.clock()
  for _ = 1, n do
    fn()
  end
  return (os.clock() - t0) / n
end

-- baseline: the cheapest possible status handler
local wezterm = H.fresh()
local window = H.window('default')
local function trivial(win)
  win:set_right_status('x')
end
local base = per_tick(TICKS, function()
  trivial(window)
end)

-- the plugin, cached: the clock stands still, so ticks reuse the formatted string
local clock = H.clock(1000)
local _, plugin = H.fresh()
wezterm = double.module
window = H.window('default')
plugin.setup(wezterm.config_builder(), { status_file = path, clock = clock.now, read_config = false, keys = false })
local handler = double.handlers('update-status')[1]
local cached = per_tick(TICKS, function()
  handler(window, nil)
end)
assert(double.strip(window.right_status):find('waiting', 1, true), window.right_status)

-- the plugin, re-reading: the clock moves one second per tick (open, read, parse, format)
local reread = per_tick(READ_TICKS, function()
  clock.t = clock.t + 1
  handler(window, nil)
end)

-- the share of json_parse (dkjson here, serde_json in WezTerm) in a re-read tick
local parse = per_tick(READ_TICKS, function()
  wezterm.json_parse(text)
end)

local runs = double.calls_of('run_child_process')
H.rmtree(dir)

local function us(s)
  return string.format('%8.2f us', s * 1e6)
end
print(string.format('status.json: 100 agents, 20 transitions, %d bytes (%s)', #text, _VERSION))
print(string.format('trivial handler (baseline)      %s/tick  (%d ticks)', us(base), TICKS))
print(string.format('plugin handler, cached tick     %s/tick  ratio %6.2fx baseline', us(cached), cached / base))
print(string.format('plugin handler, re-read tick    %s/tick  ratio %6.2fx baseline  (%d ticks)', us(reread), reread / base, READ_TICKS))
print(string.format('  of which json_parse (dkjson)  %s/call', us(parse)))
print(string.format('  plugin work besides parsing   %s/tick  ratio %6.2fx baseline', us(reread - parse), (reread - parse) / base))
print(string.format('per second at 1 read/s, 1 tick/s per window: %.3f ms of Lua', reread * 1e3))
print(string.format('processes started by the handler: %d', #runs))
