--- Key bindings: "ctrl+shift+n" strings from ui.keybindings turned into config.keys entries.

local M = {}

--- Seed defaults, by action name.
M.DEFAULTS = {
  create_workspace = 'ctrl+shift+n',
  switch_workspace = 'ctrl+shift+w',
  kill_process = 'ctrl+shift+k',
  show_dashboard = 'ctrl+shift+d',
  jump_to_waiting = 'ctrl+shift+j',
}

--- Names accepted in ui.keybindings / opts.keys for each action.
M.ALIASES = {
  create_workspace = 'create_workspace', new_workspace = 'create_workspace', workspace_create = 'create_workspace',
  switch_workspace = 'switch_workspace', workspace_switch = 'switch_workspace',
  kill_process = 'kill_process', kill = 'kill_process',
  show_dashboard = 'show_dashboard', dashboard = 'show_dashboard',
  jump_to_waiting = 'jump_to_waiting', jump_waiting = 'jump_to_waiting', waiting = 'jump_to_waiting',
}

local MODS = {
  ctrl = 'CTRL', control = 'CTRL', c = 'CTRL',
  shift = 'SHIFT', s = 'SHIFT',
  alt = 'ALT', opt = 'ALT', option = 'ALT', meta = 'ALT', a = 'ALT',
  super = 'SUPER', cmd = 'SUPER', command = 'SUPER', win = 'SUPER',
  leader = 'LEADER',
}
local MOD_ORDER = { 'CTRL', 'SHIFT', 'ALT', 'SUPER', 'LEADER' }

local NAMED = {
  enter = 'Enter', ['return'] = 'Enter', tab = 'Tab', space = 'Space', esc = 'Escape',
  escape = 'Escape', backspace = 'Backspace', delete = 'Delete', del = 'Delete', insert = 'Insert',
  home = 'Home', ['end'] = 'End', pageup = 'PageUp', pagedown = 'PageDown',
  up = 'UpArrow', down = 'DownArrow', left = 'LeftArrow', right = 'RightArrow',
  plus = '+', minus = '-',
}

--- Parse "ctrl+shift+n" into {key='n', mods='CTRL|SHIFT'}; nil, message when it is not a key.
function M.parse(spec)
  if type(spec) ~= 'string' then
    return nil, 'key binding must be a string'
  end
  local parts = {}
  for part in spec:gsub('%s+', ''):gmatch('[^+%-]+') do
    parts[#parts + 1] = part
  end
  -- "ctrl+shift++" / "ctrl+-": a trailing separator is the key itself
  local last = spec:match('[+%-]([+%-])$')
  if last then
    parts[#parts + 1] = last
  end
  if #parts == 0 then
    return nil, 'empty key binding'
  end
  local mods, seen = {}, {}
  for i = 1, #parts - 1 do
    local m = MODS[parts[i]:lower()]
    if not m then
      return nil, 'unknown modifier "' .. parts[i] .. '" in "' .. spec .. '"'
    end
    seen[m] = true
  end
  for _, m in ipairs(MOD_ORDER) do
    if seen[m] then
      mods[#mods + 1] = m
    end
  end
  local key = parts[#parts]
  local lower = key:lower()
  if NAMED[lower] then
    key = NAMED[lower]
  elseif lower:match('^f%d%d?$') then
    key = lower:upper()
  elseif #key == 1 then
    key = lower
  else
    return nil, 'unknown key "' .. key .. '" in "' .. spec .. '"'
  end
  return { key = key, mods = #mods > 0 and table.concat(mods, '|') or 'NONE' }
end

--- The binding per action: defaults < ui.keybindings < opts.keys (false disables one).
-- Returns map action -> spec string, and a list of warnings.
function M.resolve(ui_keybindings, opt_keys)
  local out, warnings = {}, {}
  for action, spec in pairs(M.DEFAULTS) do
    out[action] = spec
  end
  for _, layer in ipairs { ui_keybindings, opt_keys } do
    if type(layer) == 'table' then
      for name, spec in pairs(layer) do
        local action = M.ALIASES[name]
        if not action then
          warnings[#warnings + 1] = 'unknown key binding name "' .. tostring(name) .. '"'
        elseif spec == false or spec == '' then
          out[action] = false
        else
          out[action] = spec
        end
      end
    end
  end
  return out, warnings
end

--- Append config.keys entries for the resolved bindings; a key the user already bound wins.
-- @param actions map action name -> wezterm action
-- Returns the list of entries added and warnings.
function M.apply(config, bindings, actions)
  config.keys = config.keys or {}
  local taken = {}
  for _, k in ipairs(config.keys) do
    if type(k) == 'table' and k.key then
      taken[tostring(k.key):lower() .. '/' .. tostring(k.mods or 'NONE')] = true
    end
  end
  local added, warnings = {}, {}
  local names = {}
  for name in pairs(bindings) do
    names[#names + 1] = name
  end
  table.sort(names)
  for _, name in ipairs(names) do
    local spec = bindings[name]
    if spec and actions[name] then
      local parsed, err = M.parse(spec)
      if not parsed then
        warnings[#warnings + 1] = err
      elseif taken[parsed.key:lower() .. '/' .. parsed.mods] then
        warnings[#warnings + 1] = spec .. ' is already bound; not binding ' .. name
      else
        local entry = { key = parsed.key, mods = parsed.mods, action = actions[name] }
        table.insert(config.keys, entry)
        added[#added + 1] = entry
        taken[parsed.key:lower() .. '/' .. parsed.mods] = true
      end
    end
  end
  return added, warnings
end

return M
