-- End to end: the plugin's actions, run through the WezTerm double, against the real `wzp` and a
-- real daemon started with `wzp up` in isolated XDG dirs. WZP_BIN names the wzp to use (default:
-- .venv/bin/wzp of this checkout). Agents run `sleep` instead of Claude Code.

local H = require 'helpers'
local double = H.double
local q = double.shell_quote

local WZP = os.getenv('WZP_BIN') or (H.ROOT .. '/.venv/bin/wzp')

local function sh(cmd)
  local p = io.popen(cmd .. ' 2>&1')
  local out = p:read('a')
  local ok = p:close()
  return ok, out
end

describe('integration with a real wzp daemon', function()
  if not os.execute('test -x ' .. q(WZP)) then
    pending('no wzp at ' .. WZP .. ' (set WZP_BIN)')
    return
  end

  local T, env, wezterm, plugin
  local up_ok, up_out, no_layout

  local function wzp(args)
    return sh(env .. q(WZP) .. ' ' .. args)
  end

  local function wzp_json(args)
    local ok, out = wzp(args)
    assert(ok, 'wzp ' .. args .. ' failed: ' .. out)
    return require('dkjson').decode(out)
  end

  -- a fresh double and plugin whose children see the isolated XDG dirs
  local function boot(opts)
    wezterm, plugin = H.fresh()
    double.setenv('XDG_RUNTIME_DIR', T .. '/run')
    double.setenv('XDG_STATE_HOME', T .. '/state')
    double.setenv('XDG_CONFIG_HOME', T .. '/config')
    opts = opts or {}
    opts.wzp = WZP
    plugin.setup(wezterm.config_builder(), opts)
    return H.window('default')
  end

  setup(function()
    T = H.tmpdir()
    os.execute('mkdir -p ' .. q(T .. '/run') .. ' ' .. q(T .. '/state') .. ' '
      .. q(T .. '/config/wezterm-parallel') .. ' ' .. q(T .. '/proj') .. ' && chmod 700 ' .. q(T .. '/run'))
    H.write(T .. '/config/wezterm-parallel/config.yaml', table.concat({
      'processes:',
      '  claude_code:',
      "    command: \"/bin/sh -c 'exec sleep 600' agent\"",
      'ui:',
      '  keybindings:',
      '    jump_to_waiting: ctrl+alt+j',
      '',
    }, '\n'))
    env = 'env XDG_RUNTIME_DIR=' .. q(T .. '/run') .. ' XDG_STATE_HOME=' .. q(T .. '/state')
      .. ' XDG_CONFIG_HOME=' .. q(T .. '/config') .. ' '
    up_ok, up_out = wzp('up')
    local _, help = wzp('workspace create --help')
    no_layout = help:find('--no-layout', 1, true) ~= nil
  end)

  -- the flag that keeps wzp from laying a workspace out when WezTerm's Lua does it
  local function need_no_layout()
    if not no_layout then
      pending('this wzp has no `workspace create --no-layout` yet')
      return false
    end
    return true
  end

  -- the ui file the daemon writes beside status.json
  local function ui_file()
    local path = T .. '/run/wezterm-parallel/ui.json'
    for _ = 1, 40 do
      if H.read(path) then
        return path
      end
      os.execute('sleep 0.1')
    end
    return nil
  end

  teardown(function()
    if T then
      wzp('down')
      H.rmtree(T)
    end
  end)

  it('starts the daemon with wzp up', function()
    assert(up_ok, up_out)
    assert(wzp('ping'))
  end)

  it('create_workspace: template, name, directory -> wzp workspace create -> mux layout -> switch', function()
    assert(up_ok, up_out)
    if not need_no_layout() then
      return
    end
    local window, pane = boot()
    window:perform_action(plugin.actions.create_workspace, pane)
    local sel = assert(double.pending(window), 'no template selector (toasts: '
      .. H.encode(window.toasts) .. ')').InputSelector
    local ids = {}
    for _, c in ipairs(sel.choices) do
      ids[#ids + 1] = c.id
    end
    assert.truthy(table.concat(ids, ','):find('default', 1, true))
    double.select(window, 'default')
    double.submit(window, 'demo')
    double.submit(window, T .. '/proj')
    assert.are.same({}, window.toasts)

    -- the daemon has the workspace and its supervised processes
    local list = wzp_json('list --json')
    local targets = {}
    for _, p in ipairs(list.processes) do
      targets[#targets + 1] = p.target
    end
    table.sort(targets)
    assert.are.same({ 'demo/agent-1', 'demo/agent-2' }, targets)

    -- WezTerm has the plan laid out in a new window of workspace demo
    local plan = wzp_json('layout demo --json')
    local spawn = double.calls_of('mux.spawn_window')
    assert.are.equal(2, #spawn)
    assert.are.equal('demo', spawn[2].spec.workspace)
    assert.are.equal(T .. '/proj', spawn[2].spec.cwd)
    local w = wezterm.mux.all_windows()[2]
    assert.are.equal('demo', w:get_workspace())
    local tab = w:tabs()[1]
    local panes = tab:panes()
    assert.are.equal(#plan.panes, #panes)
    local by_id = {}
    for _, p in ipairs(panes) do
      by_id[p:pane_id()] = p
    end
    for _, pp in ipairs(plan.panes) do
      local expect = {}
      for i, a in ipairs(pp.command) do
        expect[i] = (i == 1 and a == 'wzp') and WZP or a
      end
      local found = false
      for _, p in ipairs(panes) do
        found = found or (table.concat(p.args, ' ') == table.concat(expect, ' '))
      end
      assert.is_true(found, 'no pane runs ' .. table.concat(expect, ' '))
      if pp.target then
        local id = wezterm.GLOBAL['wzp_pane:' .. pp.target]
        assert.are.equal(table.concat(expect, ' '), table.concat(by_id[id].args, ' '))
      end
    end
    -- default is three_pane_horizontal: left | (center | right)
    local tree = double.tree(tab)
    assert.are.equal('Right', tree.direction)
    assert.are.equal('Right', tree.children[2].direction)
    assert.are.same({ WZP, 'attach', 'demo/agent-1' }, tree.children[1].args)
    assert.are.same({ WZP, 'attach', 'demo/agent-2' }, tree.children[2].children[1].args)
    for _, p in ipairs(panes) do
      assert.are.equal(T .. '/proj', p.cwd)
    end
    assert.are.equal('demo', wezterm.mux.get_active_workspace())
    assert.are.same({ SwitchToWorkspace = { name = 'demo' } }, window.performed[#window.performed])
    -- no process was started by a status tick
    local n = #double.calls
    double.tick(window)
    assert.are.equal(n, #double.calls)
  end)

  it('switch_workspace shows the real workspace with its counts and lays it out', function()
    assert(up_ok, up_out)
    if not need_no_layout() then
      return
    end
    local window, pane = boot()
    window:perform_action(plugin.actions.switch_workspace, pane)
    local sel = assert(double.pending(window), 'no selector: ' .. H.encode(window.toasts)).InputSelector
    assert.are.equal('demo', sel.choices[1].id)
    assert.matches('^demo  ⚡%d+ ●%d+ ○%d+ ✖%d+  default  ', sel.choices[1].label)
    double.select(window, 'demo')
    assert.are.equal('demo', wezterm.mux.get_active_workspace())
    assert.are.equal(3, #wezterm.mux.all_windows()[2]:tabs()[1]:panes())
  end)

  it('binds the keys of the real config (ui.keybindings) from the ui file the daemon writes', function()
    assert(up_ok, up_out)
    if not ui_file() then
      pending('the daemon does not write ui.json yet')
      return
    end
    wezterm, plugin = H.fresh()
    double.setenv('XDG_RUNTIME_DIR', T .. '/run')
    local config = plugin.setup(wezterm.config_builder(), { wzp = WZP, status_bar = false })
    local found = false
    for _, k in ipairs(config.keys) do
      found = found or (k.key == 'j' and k.mods == 'CTRL|ALT' and k.action == plugin.actions.jump_to_waiting)
    end
    assert.is_true(found)
  end)

  it('kill_process kills the picked agent after confirmation', function()
    assert(up_ok, up_out)
    if not need_no_layout() then
      return
    end
    local window, pane = boot()
    window:perform_action(plugin.actions.kill_process, pane)
    assert(double.pending(window), 'no selector: ' .. H.encode(window.toasts))
    double.select(window, 'demo/agent-1')
    double.select(window, 'yes')
    assert.are.equal('killed demo/agent-1', window.toasts[#window.toasts].message)
  end)

  it('the status bar reads the status.json the daemon writes', function()
    assert(up_ok, up_out)
    local path = T .. '/run/wezterm-parallel/status.json'
    local present = false
    for _ = 1, 40 do
      if H.read(path) then
        present = true
        break
      end
      os.execute('sleep 0.1')
    end
    if not present then
      pending('the daemon does not write status.json yet (issue #5)')
      return
    end
    local window = boot()
    assert.are.equal(path, plugin.status_file())
    double.tick(window)
    assert.matches('⚡%d+ waiting ●%d+ busy ○%d+ idle ✖%d+', double.strip(window.right_status))
  end)

  it('stops the daemon with wzp down', function()
    assert(up_ok, up_out)
    local ok, out = wzp('down')
    assert(ok, out)
    assert.is_falsy((wzp('ping')))
    local window = boot { read_config = false }
    double.tick(window)
    assert.are.equal('wzp off', double.strip(window.right_status))
  end)
end)
