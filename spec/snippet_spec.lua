-- The specification's WezTerm integration snippet (its section 4.2), evaluated verbatim from
-- spec/fixtures/spec_snippet.lua against the double, and the ui settings of its config example.

local H = require 'helpers'
local double = H.double

describe('the specification snippet', function()
  local T, wezterm

  local function put(name, value)
    H.write(T .. '/run/wezterm-parallel/' .. name, type(value) == 'string' and value or H.encode(value))
  end

  local function evaluate()
    -- a config evaluation: a fresh Lua state loading the user's wezterm.lua
    wezterm = H.fresh()
    double.setenv('XDG_RUNTIME_DIR', T .. '/run')
    for name in pairs(package.loaded) do
      if name == 'multi_dev_framework' then
        package.loaded[name] = nil
      end
    end
    local chunk = assert(loadfile(H.ROOT .. '/spec/fixtures/spec_snippet.lua'))
    return chunk()
  end

  before_each(function()
    T = H.tmpdir()
    os.execute('mkdir -p ' .. double.shell_quote(T .. '/run/wezterm-parallel'))
    put('status.json', H.status_doc({ 'waiting_input', 'busy', 'idle' }, { ts = os.time() }))
  end)

  after_each(function()
    H.rmtree(T)
  end)

  it('resolves multi_dev_framework to the plugin', function()
    H.fresh()
    assert.are.equal(require 'wezterm_parallel', require 'multi_dev_framework')
  end)

  it('evaluates as written: its keys, a status bar, no process', function()
    local config = evaluate()
    local plugin = require 'multi_dev_framework'
    local by = {}
    for _, k in ipairs(config.keys) do
      by[k.mods .. '+' .. k.key] = k.action
    end
    assert.are.equal(5, #config.keys)
    assert.are.equal(plugin.actions.create_workspace, by['CTRL|SHIFT+n'])
    assert.are.equal(plugin.actions.switch_workspace, by['CTRL|SHIFT+w'])
    assert.are.equal(plugin.actions.show_dashboard, by['CTRL|SHIFT+d'])
    assert.are.same({ CopyTo = 'Clipboard' }, by['CTRL|SHIFT+c'])
    assert.are.same({ PasteFrom = 'Clipboard' }, by['CTRL|SHIFT+v'])
    -- auto_start = true starts nothing while the config is evaluated
    assert.are.equal(0, #double.calls)
    local window = H.window('default')
    double.tick(window)
    assert.are.equal('⚡1 waiting ●1 busy ○1 idle ✖0 | cpu 0% mem 0B', double.strip(window.right_status))
    -- the daemon is started once the GUI is up
    wezterm.emit('gui-startup', {})
    local bg = double.calls_of('background_child_process')
    assert.are.equal(1, #bg)
    assert.matches(' up %-%-config .*/%.config/wezterm%-parallel/config%.yaml$', bg[1].argv[3])
  end)

  it('the status handler follows status.json and shows the stale marker', function()
    put('status.json', H.status_doc({ 'fatal' }, { ts = os.time() - 60 }))
    evaluate()
    local window = H.window('default')
    double.tick(window)
    assert.matches('^⚠ stale %d+s ⚡0 waiting ●0 busy ○0 idle ✖1', double.strip(window.right_status))
  end)

  describe('ui settings of the config example, through the ui file', function()
    it('ui.theme "dark" and "light" pick a palette; a mapping sets colours', function()
      local status = require 'wezterm_parallel.status'
      put('ui.json', { schema = 1, theme = 'light' })
      evaluate()
      local window = H.window('default')
      double.tick(window)
      local r, g, b = double.parse_color(status.THEMES.light.busy)
      assert.truthy(window.right_status:find(string.format('38:2::%d:%d:%dm●1 busy', r, g, b), 1, true)
        or window.right_status:find(string.format('38:2::%d:%d:%dm●0 busy', r, g, b), 1, true))

      put('ui.json', { schema = 1, theme = { busy = '#010203' } })
      evaluate()
      window = H.window('default')
      double.tick(window)
      assert.truthy(window.right_status:find('38:2::1:2:3m●', 1, true))

      put('ui.json', { schema = 1, theme = { busy = '#12345' } })
      evaluate()
      local said = false
      for _, l in ipairs(double.logs) do
        said = said or (l.level == 'warn' and l.msg:find('"#12345" is not a colour WezTerm knows', 1, true) ~= nil)
      end
      assert.is_true(said)

      put('ui.json', { schema = 1, theme = 'solarized' })
      evaluate()
      local warned = false
      for _, l in ipairs(double.logs) do
        warned = warned or (l.level == 'warn' and l.msg:find('unknown theme "solarized"', 1, true) ~= nil)
      end
      assert.is_true(warned)
    end)

    it('show_process_status = false turns the status bar off', function()
      put('ui.json', { schema = 1, show_process_status = false })
      evaluate()
      local window = H.window('default')
      double.tick(window)
      assert.is_nil(window.right_status)
      put('ui.json', { schema = 1, show_process_status = true })
      evaluate()
      window = H.window('default')
      double.tick(window)
      assert.is_string(window.right_status)
    end)

    it('auto_hide_inactive_panes = true dims inactive panes (inactive_pane_hsb)', function()
      put('ui.json', { schema = 1, auto_hide_inactive_panes = true })
      local config = evaluate()
      local plugin = require 'wezterm_parallel'
      assert.are.same(plugin.HIDDEN_PANE_HSB, config.inactive_pane_hsb)
      put('ui.json', { schema = 1, auto_hide_inactive_panes = false })
      config = evaluate()
      assert.is_nil(config.inactive_pane_hsb)
      -- the user's own inactive_pane_hsb stays
      wezterm = H.fresh()
      double.setenv('XDG_RUNTIME_DIR', T .. '/run')
      put('ui.json', { schema = 1, auto_hide_inactive_panes = true })
      local mine = { brightness = 0.9 }
      config = require('wezterm_parallel').setup({ inactive_pane_hsb = mine }, {})
      assert.are.equal(mine, config.inactive_pane_hsb)
    end)

    it('ignores a ui file of another schema or not JSON, with a warning', function()
      for _, text in ipairs { '{"schema": 2, "show_process_status": false}', '{half' } do
        put('ui.json', text)
        evaluate()
        local window = H.window('default')
        double.tick(window)
        assert.is_string(window.right_status)
        local warned = false
        for _, l in ipairs(double.logs) do
          warned = warned or (l.level == 'warn' and l.msg:find('ui.json', 1, true) ~= nil)
        end
        assert.is_true(warned, text)
      end
    end)
  end)
end)
