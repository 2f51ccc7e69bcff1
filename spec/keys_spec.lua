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

  local function write_ui(dir, keybindings)
    H.write(dir .. '/ui.json', H.encode { schema = 1, keybindings = keybindings })
  end

  local function bound(config, plugin)
    local by = {}
    for _, k in ipairs(config.keys) do
      by[k.mods .. '+' .. k.key] = k.action
    end
    return by
  end

  local function logged(level, text)
    for _, l in ipairs(double.logs) do
      if l.level == level and l.msg:find(text, 1, true) then
        return l.msg
      end
    end
    return nil
  end

  it('setup binds the keys of the ui file, overridable by opts.keys; a user binding wins', function()
    local wezterm, plugin = H.fresh()
    local dir = H.tmpdir()
    write_ui(dir, { create_workspace = 'ctrl+shift+n', switch_workspace = 'ctrl+shift+w',
      kill_process = 'ctrl+shift+k', show_dashboard = 'alt+d', jump_to_waiting = 'ctrl+shift+j' })
    local config = wezterm.config_builder()
    local mine = wezterm.action.ActivateTab(0)
    config.keys = { { key = 'w', mods = 'CTRL|SHIFT', action = mine } }
    plugin.setup(config, { wzp = '/nonexistent/wzp', keys = { jump_to_waiting = 'ctrl+alt+j' },
      status_file = dir .. '/none', ui_file = dir .. '/ui.json' })
    local by = bound(config)
    assert.are.equal(plugin.actions.create_workspace, by['CTRL|SHIFT+n'])
    assert.are.equal(plugin.actions.kill_process, by['CTRL|SHIFT+k'])
    assert.are.equal(plugin.actions.show_dashboard, by['ALT+d'])
    assert.are.equal(plugin.actions.jump_to_waiting, by['CTRL|ALT+j'])
    assert.is_nil(by['CTRL|SHIFT+j'])
    assert.are.equal(mine, by['CTRL|SHIFT+w'])
    assert.are.equal(5, #config.keys)
    -- read with io.open: no process while the config is evaluated
    assert.are.equal(0, #double.calls_of('run_child_process'))
    assert.truthy(logged('warn', 'your config.keys entry #1 (CTRL|SHIFT+w) keeps ctrl+shift+w'))
    H.rmtree(dir)
  end)

  it('answer_waiting has no default key and is bound when ui.keybindings names one', function()
    local b = keys.resolve(nil, nil)
    assert.is_nil(b.answer_waiting)
    local wezterm, plugin = H.fresh()
    local dir = H.tmpdir()
    write_ui(dir, { answer_waiting = 'ctrl+shift+y' })
    local config = plugin.setup(wezterm.config_builder(), { wzp = '/nonexistent/wzp',
      status_file = dir .. '/none', ui_file = dir .. '/ui.json' })
    assert.are.equal(plugin.actions.answer_waiting, bound(config)['CTRL|SHIFT+y'])
    assert.are.equal(6, #config.keys)
    assert.are.equal(0, #double.calls_of('run_child_process'))
    H.rmtree(dir)
  end)

  it('sees a user binding as WezTerm does: mods in any order and spacing, SHIFT+letter folded', function()
    for _, mine in ipairs {
      { key = 'N', mods = 'CTRL' },
      { key = 'n', mods = 'SHIFT|CTRL' },
      { key = 'n', mods = ' SHIFT | CTRL ' },
      { key = 'N', mods = 'CTRL|SHIFT' },
      { key = 'mapped:n', mods = 'CTRL|SHIFT' },
    } do
      local wezterm, plugin = H.fresh()
      local config = wezterm.config_builder()
      mine.action = wezterm.action.SpawnWindow
      config.keys = { mine }
      plugin.setup(config, { read_config = false, status_file = '/x' })
      local n = 0
      for _, k in ipairs(config.keys) do
        if k.action == plugin.actions.create_workspace then
          n = n + 1
        end
      end
      assert.are.equal(0, n, mine.key .. ' ' .. mine.mods)
      assert.truthy(logged('warn', 'keeps ctrl+shift+n'), mine.key .. ' ' .. mine.mods)
    end
  end)

  it('ids chords as WezTerm binds them', function()
    assert.are.equal(keys.chord_id('n', 'CTRL|SHIFT'), keys.chord_id('N', 'CTRL'))
    assert.are.equal(keys.chord_id('n', 'CTRL|SHIFT'), keys.chord_id('N', 'SHIFT | CTRL'))
    assert.are_not.equal(keys.chord_id('n', 'CTRL'), keys.chord_id('N', 'CTRL'))
    assert.are.equal(keys.chord_id('1', 'CTRL|SHIFT'), '1/CTRL|SHIFT') -- only letters fold
    assert.are.equal(keys.chord_id('x', 'CMD'), keys.chord_id('x', 'SUPER'))
    assert.are.equal(keys.chord_id('x', 'OPT'), keys.chord_id('x', 'ALT|NONE'))
    assert.is_nil(keys.chord_id('x', 'ctrl')) -- WezTerm's names are upper case
    assert.is_nil(keys.chord_id('F25', 'CTRL'))
  end)

  it('refuses function keys WezTerm refuses and counts keys in UTF-8 characters', function()
    for _, bad in ipairs { 'ctrl+f0', 'ctrl+f25', 'f99' } do
      local k, err = keys.parse(bad)
      assert.is_nil(k, bad)
      assert.matches('F1 to F24', err)
    end
    assert.are.same({ key = 'F24', mods = 'NONE' }, keys.parse('f24'))
    assert.are.same({ key = 'F1', mods = 'SHIFT' }, keys.parse('shift+F1'))
    assert.are.same({ key = 'ö', mods = 'CTRL|ALT' }, keys.parse('ctrl+alt+ö'))
  end)

  it('a bad chord in the ui file leaves that action unbound and keeps the rest', function()
    local wezterm, plugin = H.fresh()
    local dir = H.tmpdir()
    write_ui(dir, { show_dashboard = 'ctrl+f25' })
    local config = plugin.setup(wezterm.config_builder(), { ui_file = dir .. '/ui.json', status_file = '/x' })
    assert.are.equal(4, #config.keys)
    for _, k in ipairs(config.keys) do
      assert.is_not_nil(keys.chord_id(k.key, k.mods))
    end
    assert.truthy(logged('warn', 'show_dashboard gets no key'))
    H.rmtree(dir)
  end)

  it('two plugin actions on one chord: the first keeps it, the second is said', function()
    local wezterm, plugin = H.fresh()
    local config = plugin.setup(wezterm.config_builder(), { read_config = false, status_file = '/x',
      keys = { show_dashboard = 'ctrl+shift+n' } })
    assert.are.equal(4, #config.keys)
    assert.truthy(logged('warn', 'ctrl+shift+n is already bound to create_workspace; not binding show_dashboard'))
  end)

  it('says at load which WezTerm defaults its keys replace, and how to keep them', function()
    local wezterm, plugin = H.fresh()
    plugin.setup(wezterm.config_builder(), { read_config = false, status_file = '/x' })
    assert.truthy(logged('info', "ctrl+shift+n (create_workspace) replaces WezTerm's SpawnWindow"))
    assert.truthy(logged('info', "ctrl+shift+w (switch_workspace) replaces WezTerm's CloseCurrentTab"))
    assert.truthy(logged('info', "ctrl+shift+k (kill_process) replaces WezTerm's ClearScrollback"))
    assert.truthy(logged('info', 'keys = {kill_process = false} or keys = false'))
    -- per-action false keeps WezTerm's key, and nothing is said about it
    wezterm, plugin = H.fresh()
    local config = plugin.setup(wezterm.config_builder(), { read_config = false, status_file = '/x',
      keys = { create_workspace = false, switch_workspace = false, kill_process = false } })
    assert.are.equal(2, #config.keys)
    assert.is_nil(logged('info', 'replaces WezTerm'))
  end)

  it('uses the built-in keys when there is no ui file, starting no process', function()
    local wezterm, plugin = H.fresh()
    local config = plugin.setup(wezterm.config_builder(), { wzp = '/nonexistent/wzp', status_file = '/nonexistent' })
    assert.are.equal(5, #config.keys)
    assert.are.equal(0, #double.calls_of('run_child_process'))
  end)

  it('binds nothing with keys = false', function()
    local wezterm, plugin = H.fresh()
    local config = plugin.setup(wezterm.config_builder(), { keys = false, read_config = false, status_file = '/x' })
    assert.is_nil(config.keys)
  end)
end)
