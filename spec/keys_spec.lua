-- Key chords from ui.keybindings -> config.keys.

local H = require 'helpers'
local double = H.double

describe('keys', function()
  local keys

  before_each(function()
    H.fresh()
    keys = require 'wezterm_parallel.keys'
  end)

  it('parses chords', function()
    assert.are.same({ key = 'n', mods = 'CTRL|SHIFT' }, keys.parse('ctrl+shift+n'))
    assert.are.same({ key = 'n', mods = 'CTRL|SHIFT' }, keys.parse('Shift+Ctrl+N'))
    assert.are.same({ key = 'k', mods = 'ALT|SUPER' }, keys.parse('cmd+opt+k'))
    assert.are.same({ key = 'w', mods = 'LEADER' }, keys.parse('leader+w'))
    assert.are.same({ key = 'F5', mods = 'NONE' }, keys.parse('f5'))
    assert.are.same({ key = 'Enter', mods = 'CTRL' }, keys.parse('ctrl+enter'))
    assert.are.same({ key = 'PageUp', mods = 'SHIFT' }, keys.parse('shift+pageup'))
    assert.are.same({ key = '+', mods = 'CTRL' }, keys.parse('ctrl++'))
    assert.are.same({ key = '-', mods = 'CTRL' }, keys.parse('ctrl+-'))
    assert.are.same({ key = 'd', mods = 'CTRL|SHIFT' }, keys.parse(' ctrl + shift + d '))
  end)

  it('refuses what is not a chord', function()
    for _, bad in ipairs { '', 'hyper+n', 'ctrl+shift+nope', 42 } do
      local k, err = keys.parse(bad)
      assert.is_nil(k)
      assert.is_string(err)
    end
  end)

  it('resolves defaults < ui.keybindings < opts.keys, with aliases and false', function()
    local b, warnings = keys.resolve(
      { create_workspace = 'ctrl+alt+n', dashboard = 'ctrl+alt+d', bogus = 'x' },
      { kill_process = false, jump_to_waiting = 'ctrl+shift+space' })
    assert.are.equal('ctrl+alt+n', b.create_workspace)
    assert.are.equal('ctrl+alt+d', b.show_dashboard)
    assert.are.equal('ctrl+shift+w', b.switch_workspace)
    assert.is_false(b.kill_process)
    assert.are.equal('ctrl+shift+space', b.jump_to_waiting)
    assert.are.equal(1, #warnings)
  end)

  it('setup binds the keys of the wzp config, overridable by opts.keys; a user binding wins', function()
    local wezterm, plugin = H.fresh()
    local fake = H.fake_wzp()
    fake.put('config.json', { ui = { keybindings = {
      create_workspace = 'ctrl+shift+n', switch_workspace = 'ctrl+shift+w', kill_process = 'ctrl+shift+k',
      show_dashboard = 'alt+d', jump_to_waiting = 'ctrl+shift+j' } } })
    local config = wezterm.config_builder()
    local mine = wezterm.action.ActivateTab(0)
    config.keys = { { key = 'w', mods = 'CTRL|SHIFT', action = mine } }
    plugin.setup(config, { wzp = fake.bin, keys = { jump_to_waiting = 'ctrl+alt+j' }, status_file = fake.dir .. '/none' })
    local by = {}
    for _, k in ipairs(config.keys) do
      by[k.mods .. '+' .. k.key] = k.action
    end
    assert.are.equal(plugin.actions.create_workspace, by['CTRL|SHIFT+n'])
    assert.are.equal(plugin.actions.kill_process, by['CTRL|SHIFT+k'])
    assert.are.equal(plugin.actions.show_dashboard, by['ALT+d'])
    assert.are.equal(plugin.actions.jump_to_waiting, by['CTRL|ALT+j'])
    assert.is_nil(by['CTRL|SHIFT+j'])
    assert.are.equal(mine, by['CTRL|SHIFT+w'])
    assert.are.equal(5, #config.keys)
    -- read once with `wzp config show --format json`
    assert.are.same({ 'config show --format json' }, fake.log())
    -- another config evaluation (new Lua state) within 30 s reuses it through wezterm.GLOBAL
    for name in pairs(package.loaded) do
      if name:match('^wezterm_parallel') then
        package.loaded[name] = nil
      end
    end
    plugin = require 'wezterm_parallel'
    local again = plugin.setup(wezterm.config_builder(), { wzp = fake.bin, status_file = fake.dir .. '/none' })
    assert.are.equal(5, #again.keys)
    assert.are.equal(1, #fake.log())
    H.rmtree(fake.dir)
  end)

  it('falls back to the seed defaults when wzp cannot be run', function()
    local wezterm, plugin = H.fresh()
    local config = plugin.setup(wezterm.config_builder(), { wzp = '/nonexistent/wzp', status_file = '/nonexistent' })
    assert.are.equal(5, #config.keys)
    local found = false
    for _, l in ipairs(double.logs) do
      found = found or (l.level == 'warn' and l.msg:find('default keys', 1, true) ~= nil)
    end
    assert.is_true(found)
  end)

  it('binds nothing with keys = false', function()
    local wezterm, plugin = H.fresh()
    local config = plugin.setup(wezterm.config_builder(), { keys = false, read_config = false, status_file = '/x' })
    assert.is_nil(config.keys)
  end)
end)
