-- The plugin leaks no globals and loads both ways (package.path and plugin/init.lua).

local H = require 'helpers'
local double = H.double

describe('module hygiene', function()
  it('sets no global variable while loading, setting up, ticking and running actions', function()
    local wezterm = double.install()
    for name in pairs(package.loaded) do
      if name:match('^wezterm_parallel') then
        package.loaded[name] = nil
      end
    end
    local dir = H.tmpdir()
    H.write(dir .. '/status.json', H.encode(H.status_doc({ 'waiting_input', 'busy' }, { ts = os.time(),
      transitions = { { seq = 1, target = 'ws1/agent-1', to = 'waiting_input', ts = os.time() } } })))
    local before = {}
    for k in pairs(_G) do
      before[k] = true
    end
    local written = {}
    local mt = getmetatable(_G)
    setmetatable(_G, { __newindex = function(t, k, v)
      written[#written + 1] = tostring(k)
      rawset(t, k, v)
    end })
    local ok, err = pcall(function()
      local plugin = require 'wezterm_parallel'
      plugin.setup(wezterm.config_builder(), { status_file = dir .. '/status.json', wzp = '/nonexistent/wzp' })
      local window, pane = H.window('default')
      double.tick(window)
      window:perform_action(plugin.actions.jump_to_waiting, pane)
      window:perform_action(plugin.actions.kill_process, pane)
      window:perform_action(plugin.actions.show_dashboard, pane)
      assert(plugin.status_text():find('waiting', 1, true))
    end)
    setmetatable(_G, mt)
    H.rmtree(dir)
    assert(ok, err)
    local added = {}
    for k in pairs(_G) do
      if not before[k] then
        added[#added + 1] = tostring(k)
      end
    end
    assert.are.same({}, written)
    assert.are.same({}, added)
  end)

  it('loads through plugin/init.lua (wezterm.plugin.require) with the file path as chunk argument', function()
    double.install()
    for name in pairs(package.loaded) do
      if name:match('^wezterm_parallel') then
        package.loaded[name] = nil
      end
    end
    local saved = package.path
    package.path = '/nonexistent/?.lua' -- the plugin must add its own lua/ dir
    local file = H.ROOT .. '/plugin/init.lua'
    local chunk = assert(loadfile(file))
    local ok, mod = pcall(chunk, 'wezterm-parallel', file) -- what require passes in Lua 5.4
    local path_after = package.path
    package.path = saved
    assert(ok, mod)
    assert.is_function(mod.setup)
    assert.are.equal(mod.setup, mod.apply_to_config)
    assert.is_table(mod.actions.create_workspace)
    assert.truthy(path_after:find(H.ROOT .. '/lua/?.lua', 1, true))
  end)

  it('exposes the documented API', function()
    local _, plugin = H.fresh()
    for _, name in ipairs { 'create_workspace', 'switch_workspace', 'show_dashboard', 'kill_process', 'jump_to_waiting' } do
      assert.truthy(plugin.actions[name].EmitEvent, name)
    end
    assert.is_function(plugin.status_text)
    assert.is_function(plugin.format_status)
    assert.is_function(plugin.status_file)
  end)
end)
