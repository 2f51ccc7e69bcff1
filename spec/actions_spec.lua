-- The plugin's actions driven through the double's overlays, against a fake wzp
-- (spec/fixtures/fake_wzp.sh; the integration spec runs the real one).

local H = require 'helpers'
local double = H.double

describe('actions', function()
  local wezterm, plugin, fake, window, pane, status_path

  before_each(function()
    wezterm, plugin = H.fresh()
    fake = H.fake_wzp()
    fake.put('config.json', {
      workspaces = { templates = {
        default = { layout = 'three_pane_horizontal', description = 'Two agents and a monitor' },
        web_dev = { layout = 'four_pane_grid', description = 'Agents, dev server, log' },
      } },
      ui = { keybindings = {} },
    })
    status_path = fake.dir .. '/status.json'
    -- the ui file the daemon writes: templates for the picker, read at setup with io.open
    fake.put('ui.json', { schema = 1, templates = {
      default = { layout = 'three_pane_horizontal', description = 'Two agents and a monitor', panes = {} },
      web_dev = { layout = 'four_pane_grid', description = 'Agents, dev server, log', panes = {} },
    } })
    plugin.setup(wezterm.config_builder(), { wzp = fake.bin, status_file = status_path, keys = false,
      ui_file = fake.dir .. '/ui.json' })
    window, pane = H.window('default')
  end)

  after_each(function()
    H.rmtree(fake.dir)
  end)

  local function calls()
    return fake.log() -- setup itself runs nothing
  end

  describe('create_workspace', function()
    it('template -> name -> directory -> wzp workspace create -> layout -> switch', function()
      local plan = H.plan('three_pane_horizontal', '__NAME__', '/home/u/proj')
      plan.panes[3].command = { 'wzp', 'top' }
      fake.put('layout.json', plan)
      window:perform_action(plugin.actions.create_workspace, pane)

      local sel = double.pending(window).InputSelector
      assert.are.same({
        { id = 'default', label = 'default  (three_pane_horizontal)  Two agents and a monitor' },
        { id = 'web_dev', label = 'web_dev  (four_pane_grid)  Agents, dev server, log' },
      }, sel.choices)
      double.select(window, 'default')
      assert.truthy(double.pending(window).PromptInputLine)
      double.submit(window, '  demo ')
      assert.matches('Directory for demo', double.pending(window).PromptInputLine.description)
      double.submit(window, '~/proj')

      -- one layout: the plugin's; wzp is told not to lay it out with `wezterm cli` as well
      assert.are.same({
        'workspace create demo --template default --dir ' .. wezterm.home_dir .. '/proj --no-layout',
        'layout demo --json',
      }, calls())
      local spawn = double.calls_of('mux.spawn_window')
      assert.are.equal(2, #spawn) -- the spec's own window, then the layout
      assert.are.equal('demo', spawn[2].spec.workspace)
      assert.are.same({ fake.bin, 'attach', 'demo/agent-1' }, spawn[2].spec.args)
      assert.are.equal('demo', wezterm.mux.get_active_workspace())
      local w = wezterm.mux.all_windows()[2]
      local panes = w:tabs()[1]:panes()
      assert.are.equal(3, #panes)
      assert.are.same({ fake.bin, 'top' }, panes[3].args)
      local last = window.performed[#window.performed]
      assert.are.same({ SwitchToWorkspace = { name = 'demo' } }, last)
    end)

    it('uses the current pane directory when the directory is left empty', function()
      fake.put('layout.json', H.plan('three_pane_horizontal', '__NAME__', '/srv/x'))
      -- the overlays hand their callbacks the window's active pane: give it a directory
      local _, p = window:mux_window():spawn_tab { cwd = '/srv/x' }
      window:perform_action(plugin.actions.create_workspace, p)
      double.select(window, 'default')
      double.submit(window, 'x1')
      double.submit(window, '')
      assert.are.equal('workspace create x1 --template default --dir /srv/x --no-layout', calls()[1])
    end)

    it('stops quietly on cancel and toasts a bad name or a failed create', function()
      window:perform_action(plugin.actions.create_workspace, pane)
      double.cancel(window)
      assert.is_nil(double.pending(window))

      window:perform_action(plugin.actions.create_workspace, pane)
      double.select(window, 'default')
      double.submit(window, 'Bad Name!')
      assert.is_nil(double.pending(window))
      assert.matches('bad workspace name', window.toasts[1].message)

      window:perform_action(plugin.actions.create_workspace, pane)
      double.select(window, 'web_dev')
      double.submit(window, 'taken')
      double.submit(window, '/tmp')
      assert.are.equal('workspace create failed: Error: workspace taken exists', window.toasts[2].message)
      assert.are.equal(1, #double.calls_of('mux.spawn_window'))
    end)

    it('reads the templates with `wzp config show` when there is no ui file yet', function()
      os.remove(fake.dir .. '/ui.json')
      plugin.setup(wezterm.config_builder(), { wzp = fake.bin, status_file = status_path, keys = false,
        ui_file = fake.dir .. '/ui.json' })
      assert.are.same({}, calls())
      window:perform_action(plugin.actions.create_workspace, pane)
      assert.are.same({ 'default', 'web_dev' }, { double.pending(window).InputSelector.choices[1].id,
        double.pending(window).InputSelector.choices[2].id })
      assert.are.same({ 'config show --format json' }, calls())
    end)

    it('toasts when wzp cannot be run', function()
      plugin.setup(wezterm.config_builder(), { wzp = '/nonexistent/wzp', status_file = status_path, keys = false, read_config = false })
      window:perform_action(plugin.actions.create_workspace, pane)
      assert.is_nil(double.pending(window))
      assert.matches('^cannot read templates: ', window.toasts[1].message)
    end)
  end)

  it('switch_workspace lists wzp workspaces with counts and switches or lays out', function()
    fake.put('workspaces.json', { workspaces = {
      { name = 'demo', template = 'default', dir = '/d', processes = {},
        totals = { waiting_input = 1, busy = 2, starting = 1, idle = 0, fatal = 1 } },
      { name = 'web', template = 'web_dev', dir = '/w', processes = {}, totals = {} },
    } })
    fake.put('layout.json', H.plan('four_pane_grid', '__NAME__', '/w'))
    wezterm.mux.spawn_window { workspace = 'demo' }
    window:perform_action(plugin.actions.switch_workspace, pane)
    local sel = double.pending(window).InputSelector
    assert.are.equal('demo  ⚡1 ●3 ○0 ✖1  default  /d', sel.choices[1].label)
    assert.are.equal('web  ⚡0 ●0 ○0 ✖0  web_dev  /w', sel.choices[2].label)
    double.select(window, 'demo')
    assert.are.equal('demo', wezterm.mux.get_active_workspace())
    assert.are.equal(2, #double.calls_of('mux.spawn_window'))

    window:perform_action(plugin.actions.switch_workspace, pane)
    double.select(window, 'web') -- not in WezTerm yet: laid out from `wzp layout web --json`
    assert.are.equal('web', wezterm.mux.get_active_workspace())
    assert.are.equal(4, #wezterm.mux.all_windows()[3]:tabs()[1]:panes())
    assert.are.same({ 'workspace list --json', 'workspace list --json', 'layout web --json' }, calls())
  end)

  it('switch_workspace goes to a pane that shows the workspace, wherever it is', function()
    fake.put('workspaces.json', { workspaces = { { name = 'shell', template = 'default', dir = '/s', totals = {} } } })
    -- laid out from a shell as a tab of the current window's workspace
    local _, tab_pane = window:mux_window():spawn_tab { args = { 'wzp', 'attach', 'shell/agent-1' } }
    double.set_user_var(tab_pane, 'wzp_target', 'shell/agent-1')
    pane:activate()
    window:perform_action(plugin.actions.switch_workspace, pane)
    double.select(window, 'shell')
    assert.are.equal('default', wezterm.mux.get_active_workspace())
    assert.are.equal(tab_pane:pane_id(), window:active_pane():pane_id())
    assert.are.equal(1, #double.calls_of('mux.spawn_window')) -- nothing new laid out
  end)

  it('kill_process offers the agent of the current pane first', function()
    fake.put('list.json', { processes = {
      { target = 'demo/agent-1', workspace = 'demo', pane = 'agent-1', state = 'busy', pid = 11 },
      { target = 'demo/agent-2', workspace = 'demo', pane = 'agent-2', state = 'idle', pid = 12 },
    } })
    double.set_user_var(pane, 'wzp_target', 'demo/agent-2')
    window:perform_action(plugin.actions.kill_process, pane)
    local sel = double.pending(window).InputSelector
    assert.are.equal('demo/agent-2', sel.choices[1].id)
    assert.matches('%(this pane%)$', sel.choices[1].label)
  end)

  it('show_dashboard opens a tab running wzp dashboard', function()
    window:perform_action(plugin.actions.show_dashboard, pane)
    local tabs = window:mux_window():tabs()
    assert.are.equal(2, #tabs)
    assert.are.same({ fake.bin, 'dashboard' }, tabs[2]:panes()[1].args)
  end)

  it('kill_process picks a process, asks to confirm, then runs wzp kill', function()
    fake.put('list.json', { processes = {
      { target = 'demo/agent-1', workspace = 'demo', pane = 'agent-1', state = 'busy', pid = 11 },
      { target = 'demo/agent-2', workspace = 'demo', pane = 'agent-2', state = 'waiting_input', pid = 12 },
    } })
    window:perform_action(plugin.actions.kill_process, pane)
    local sel = double.pending(window).InputSelector
    assert.are.same({ 'demo/agent-1', 'demo/agent-2', 'demo' }, { sel.choices[1].id, sel.choices[2].id, sel.choices[3].id })
    assert.are.equal('demo/agent-2  [waiting_input]  pid 12', sel.choices[2].label)
    double.select(window, 'demo/agent-2')
    double.select(window, 'no')
    assert.are.same({ 'list --json' }, calls())

    window:perform_action(plugin.actions.kill_process, pane)
    double.select(window, 'demo/agent-2')
    double.select(window, 'yes')
    assert.are.same({ 'list --json', 'list --json', 'kill demo/agent-2' }, calls())
    assert.are.equal('killed demo/agent-2', window.toasts[#window.toasts].message)
  end)

  describe('jump_to_waiting', function()
    it('activates the pane of the oldest waiting agent, switching workspace', function()
      fake.put('layout.json', H.plan('three_pane_horizontal', '__NAME__', '/d'))
      require('wezterm_parallel.actions').open_workspace(
        { wezterm = wezterm, runner = require('wezterm_parallel.cli').runner(wezterm, fake.bin) },
        window, pane, 'demo')
      wezterm.mux.set_active_workspace('default')
      H.write(status_path, H.encode(H.status_doc({ 'busy' }, {
        ts = os.time(), waiting = { { target = 'demo/agent-2', since = 1 }, { target = 'demo/agent-1', since = 2 } } })))
      local before = #fake.log()
      window:perform_action(plugin.actions.jump_to_waiting, pane)
      assert.are.equal('demo', wezterm.mux.get_active_workspace())
      local tab = wezterm.mux.all_windows()[2]:tabs()[1]
      assert.are.same({ fake.bin, 'attach', 'demo/agent-2' }, tab:active_pane().args)
      assert.are.equal(before, #fake.log()) -- status.json only, no wzp call
    end)

    it('finds the pane by its wzp_target user var in any domain and raises its window', function()
      -- an agent attached over SSH: argv says nothing about wzp, the user var does
      local _, decoy = wezterm.mux.spawn_window { workspace = 'default', args = { 'wzp', 'attach', 'remote/a' } }
      local _, far, far_window = wezterm.mux.spawn_window { workspace = 'remote', args = { 'ssh', 'build-host' } }
      double.set_user_var(far, 'wzp_target', 'remote/a')
      double.set_user_var(decoy, 'wzp_target', 'default/other')
      H.write(status_path, H.encode(H.status_doc({ 'busy' }, {
        ts = os.time(), waiting = { { target = 'remote/a', since = 1 } } })))
      window:perform_action(plugin.actions.jump_to_waiting, pane)
      assert.are.equal('remote', wezterm.mux.get_active_workspace())
      assert.are.equal(far:pane_id(), far_window:active_pane():pane_id())
      assert.are.equal(1, far_window:gui_window().focus_count)
      assert.are.equal(0, #double.calls_of('run_child_process'))
    end)

    it('uses argv only for panes without the user var', function()
      local _, old = wezterm.mux.spawn_window { workspace = 'default', args = { 'wzp', 'attach', 'w/a' } }
      local layout = require 'wezterm_parallel.layout'
      assert.are.equal(old:pane_id(), layout.find_pane(wezterm, 'w/a'):pane_id())
      -- once the pane says it shows something else (a detach and a new attach), argv no longer counts
      double.set_user_var(old, 'wzp_target', 'w/b')
      wezterm.GLOBAL[layout.global_key('w/a')] = nil
      assert.is_nil(layout.find_pane(wezterm, 'w/a'))
      assert.are.equal(old:pane_id(), layout.find_pane(wezterm, 'w/b'):pane_id())
    end)

    it('opens an attach tab when no pane shows the agent, and says so when none waits', function()
      H.write(status_path, H.encode(H.status_doc({ 'waiting_input' }, { ts = os.time() })))
      window:perform_action(plugin.actions.jump_to_waiting, pane)
      local tabs = window:mux_window():tabs()
      assert.are.same({ fake.bin, 'attach', 'ws1/agent-1' }, tabs[2]:panes()[1].args)

      H.write(status_path, H.encode(H.status_doc({ 'idle' }, { ts = os.time() })))
      window:perform_action(plugin.actions.jump_to_waiting, pane)
      assert.are.equal('no agent is waiting', window.toasts[#window.toasts].message)
      os.remove(status_path)
      window:perform_action(plugin.actions.jump_to_waiting, pane)
      assert.are.equal('wzp is not running', window.toasts[#window.toasts].message)
    end)
  end)

  describe('answer_waiting', function()
    it('answers the longest-waiting agent with the chosen option through wzp answer', function()
      H.write(status_path, H.encode(H.status_doc({ 'busy' }, { ts = os.time(), waiting = {
        { target = 'demo/agent-2', since = 1, reason = 'permission', message = 'Claude needs your permission to use Bash' },
        { target = 'demo/agent-1', since = 2, reason = 'permission', message = 'other' } } })))
      window:perform_action(plugin.actions.answer_waiting, pane)
      assert.are.same({}, calls()) -- nothing runs before a choice
      local sel = double.pending(window).InputSelector
      assert.are.same({ 'yes', 'no', 'always' }, { sel.choices[1].id, sel.choices[2].id, sel.choices[3].id })
      for _, c in ipairs(sel.choices) do
        assert.matches('demo/agent-2', c.label, 1, true)
        assert.matches('Claude needs your permission to use Bash', c.label, 1, true)
      end
      double.select(window, 'always')
      assert.are.same({ 'answer demo/agent-2 always' }, calls())
      assert.matches('always', window.toasts[#window.toasts].message, 1, true)
      assert.matches('demo/agent-2', window.toasts[#window.toasts].message, 1, true)
    end)

    it('does nothing on cancel, toasts a refusal, and says when none waits', function()
      H.write(status_path, H.encode(H.status_doc({ 'busy' }, { ts = os.time(), waiting = {
        { target = 'demo/busy', since = 1, reason = 'permission', message = require('dkjson').null } } })))
      window:perform_action(plugin.actions.answer_waiting, pane)
      double.cancel(window)
      assert.are.same({}, calls())
      window:perform_action(plugin.actions.answer_waiting, pane)
      double.select(window, 'no')
      assert.are.same({ 'answer demo/busy no' }, calls())
      assert.are.equal('answer no to demo/busy failed: Error: demo/busy is busy, not waiting for input',
        window.toasts[#window.toasts].message)

      H.write(status_path, H.encode(H.status_doc({ 'idle' }, { ts = os.time() })))
      window:perform_action(plugin.actions.answer_waiting, pane)
      assert.is_nil(double.pending(window))
      assert.are.equal('no agent is waiting', window.toasts[#window.toasts].message)
      os.remove(status_path)
      window:perform_action(plugin.actions.answer_waiting, pane)
      assert.are.equal('wzp is not running', window.toasts[#window.toasts].message)
    end)
  end)

  it('auto_start runs `wzp ping || wzp up` once per GUI, from gui-startup, never at config evaluation', function()
    plugin.setup(wezterm.config_builder(), { wzp = fake.bin, auto_start = true, keys = false, status_file = status_path })
    plugin.setup(wezterm.config_builder(), { wzp = fake.bin, auto_start = true, keys = false, status_file = status_path })
    assert.are.equal(0, #double.calls_of('run_child_process') + #double.calls_of('background_child_process'))
    wezterm.emit('gui-startup', {})
    wezterm.emit('gui-attached', {})
    -- a reload evaluates the config again in a new Lua state; GLOBAL remembers the start
    plugin.setup(wezterm.config_builder(), { wzp = fake.bin, auto_start = true, keys = false, status_file = status_path })
    wezterm.emit('gui-attached', {})
    local bg = double.calls_of('background_child_process')
    assert.are.equal(1, #bg)
    assert.are.same({ '/bin/sh', '-c', fake.bin .. ' ping >/dev/null 2>&1 || exec ' .. fake.bin .. ' up' }, bg[1].argv)
    -- it really ran: ping (exit 3 from the fake), then up
    local log
    for _ = 1, 50 do
      log = table.concat(fake.log(), ',')
      if log:find('up', 1, true) then
        break
      end
      os.execute('sleep 0.05')
    end
    assert.matches('ping,up$', log)
  end)

  it('auto_start from gui-attached too (wezterm connect emits no gui-startup)', function()
    plugin.setup(wezterm.config_builder(), { wzp = fake.bin, auto_start = true, keys = false, status_file = status_path })
    wezterm.emit('gui-attached', {})
    assert.are.equal(1, #double.calls_of('background_child_process'))
  end)

  it('does nothing at gui-startup without auto_start', function()
    wezterm.emit('gui-startup', {})
    assert.are.equal(0, #double.calls_of('run_child_process') + #double.calls_of('background_child_process'))
  end)
end)
