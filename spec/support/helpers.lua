--- Shared helpers for the wezterm-parallel specs.

local double = require 'wezterm_double'
local dkjson = require 'dkjson'

local H = {}

H.double = double
H.ROOT = (os.getenv('PWD') or '.')

--- A fresh double and a freshly loaded plugin: returns wezterm, plugin.
function H.fresh()
  double.install()
  -- the plugin's default status.json / ui file paths must not find this machine's real ones
  double.setenv('XDG_RUNTIME_DIR', '/nonexistent-wzp-spec/run')
  double.setenv('XDG_STATE_HOME', '/nonexistent-wzp-spec/state')
  for name in pairs(package.loaded) do
    if name:match('^wezterm_parallel') then
      package.loaded[name] = nil
    end
  end
  local plugin = require 'wezterm_parallel'
  return double.module, plugin
end

--- A new temp directory.
function H.tmpdir()
  local p = io.popen('mktemp -d')
  local dir = p:read('l')
  p:close()
  return dir
end

function H.rmtree(dir)
  if dir and dir:match('^/tmp/') then
    os.execute('rm -rf ' .. double.shell_quote(dir))
  end
end

function H.write(path, text)
  local f = assert(io.open(path, 'wb'))
  f:write(text)
  f:close()
end

function H.read(path)
  local f = io.open(path, 'rb')
  if not f then
    return nil
  end
  local s = f:read('a')
  f:close()
  return s
end

function H.encode(v)
  return dkjson.encode(v)
end

local STATES = { 'starting', 'busy', 'waiting_input', 'idle', 'running', 'exited', 'backoff', 'fatal', 'stopped' }

--- A status.json document (contract shape, schema 1) from a list of agent states.
-- opts: ts, cpu, rss, pid, transitions, waiting (list of targets, oldest first)
function H.status_doc(states, opts)
  opts = opts or {}
  local totals = { agents = #states }
  for _, s in ipairs(STATES) do
    totals[s] = 0
  end
  local agents, waiting = {}, {}
  for i, s in ipairs(states) do
    totals[s] = totals[s] + 1
    local ws = 'ws' .. ((i - 1) // 4 + 1)
    local target = ws .. '/agent-' .. i
    agents[#agents + 1] = {
      target = target, workspace = ws, pane = 'agent-' .. i, kind = 'claude', state = s,
      since = (opts.ts or 1000) - i, reason = s == 'waiting_input' and 'permission' or dkjson.null,
      message = s == 'waiting_input' and 'Claude needs your permission to use Bash' or dkjson.null,
      cpu = 1.5, rss = 123456789, pid = 4000 + i, restarts = 0, task = dkjson.null,
    }
    if s == 'waiting_input' then
      waiting[#waiting + 1] = { target = target, since = (opts.ts or 1000) - i, reason = 'permission',
                                message = 'Claude needs your permission to use Bash' }
    end
  end
  local doc = {
    schema = 1,
    ts = opts.ts or 1000,
    daemon = { pid = opts.pid or 123, version = '0.1.0', uptime = 12.5 },
    totals = totals,
    cpu = opts.cpu or 0,
    rss = opts.rss or 0,
    workspaces = {},
    agents = agents,
    waiting = opts.waiting or waiting,
    transitions = opts.transitions or {},
  }
  setmetatable(doc.agents, { __jsontype = 'array' })
  setmetatable(doc.waiting, { __jsontype = 'array' })
  setmetatable(doc.transitions, { __jsontype = 'array' })
  return doc
end

--- A clock the specs move by hand.
function H.clock(start)
  local c = { t = start or 1000 }
  function c.now()
    return c.t
  end
  return c
end

--- A GUI window (and its pane) in workspace `ws` of the double's mux.
function H.window(ws)
  local _, pane, mw = double.module.mux.spawn_window { workspace = ws or 'default' }
  return double.gui(mw), pane, mw
end

--- Path of the fake wzp used by unit specs, and its setup in a temp dir.
-- Returns fake = {bin, dir, log = function() -> list of argv lines}
function H.fake_wzp()
  local dir = H.tmpdir()
  local bin = H.ROOT .. '/spec/fixtures/fake_wzp.sh'
  double.setenv('FAKE_WZP_DIR', dir)
  local fake = { bin = bin, dir = dir }
  function fake.log()
    local out = {}
    for line in (H.read(dir .. '/calls.log') or ''):gmatch('[^\n]+') do
      out[#out + 1] = line
    end
    return out
  end
  function fake.put(name, value)
    H.write(dir .. '/' .. name, type(value) == 'string' and value or dkjson.encode(value))
  end
  return fake
end

--- Layout plans in the contract shape (docs/contracts.md "Layout plan").
function H.plan(layout, ws, cwd)
  ws, cwd = ws or 'demo', cwd or '/tmp/demo'
  local function agent(name, from, dir)
    return { pane = name, split_from = from, direction = dir, size = from and 0.5 or nil, supervised = true,
             command = { 'wzp', 'attach', ws .. '/' .. name }, target = ws .. '/' .. name }
  end
  local panes
  if layout == 'three_pane_horizontal' then
    panes = {
      agent('agent-1'),
      agent('agent-2', 'agent-1', 'Right'),
      { pane = 'monitor', split_from = 'agent-2', direction = 'Bottom', size = 0.5, supervised = false,
        command = { 'htop' } },
    }
  elseif layout == 'four_pane_grid' then
    panes = {
      agent('agent-1'),
      agent('agent-2', 'agent-1', 'Right'),
      agent('dev-server', 'agent-1', 'Bottom'),
      { pane = 'logs', split_from = 'agent-2', direction = 'Bottom', size = 0.5, supervised = false,
        command = { 'tail', '-F', 'log/development.log' } },
    }
  else
    error('no fixture for ' .. tostring(layout))
  end
  return { version = 1, workspace = ws, template = layout == 'four_pane_grid' and 'web_dev' or 'default',
           layout = layout, cwd = cwd, panes = panes }
end

return H
