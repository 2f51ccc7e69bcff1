--- Key bindings: "ctrl+shift+n" strings from ui.keybindings turned into config.keys entries.

local M = {}

--- Seed defaults, by action name (answer_waiting has none: only ui.keybindings / opts.keys bind it).
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
  answer_waiting = 'answer_waiting', answer = 'answer_waiting',
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

--- WezTerm's own default bindings that the plugin's defaults replace (ctrl+shift versions of
--- the SUPER defaults, wezterm-gui/src/commands.rs).
M.SHADOWED = {
  ['N/CTRL'] = 'SpawnWindow (New Window)',
  ['W/CTRL'] = 'CloseCurrentTab (Close Tab)',
  ['K/CTRL'] = 'ClearScrollback (Clear Scrollback)',
}

local MOD_BITS = { CTRL = 1, SHIFT = 2, ALT = 4, SUPER = 8, LEADER = 16 }
-- modifier names WezTerm accepts in a `mods` string (Modifiers::try_from, case-sensitive)
local WEZ_MODS = {
  SHIFT = 'SHIFT', ALT = 'ALT', OPT = 'ALT', META = 'ALT', CTRL = 'CTRL',
  SUPER = 'SUPER', CMD = 'SUPER', WIN = 'SUPER', LEADER = 'LEADER', NONE = false, [''] = false,
}

local function utf8_len(s)
  local ok, n = pcall(utf8.len, s)
  return ok and n or nil
end

--- Parse a `mods` string the way WezTerm does: split on '|', trim each name. Returns the set
--- of canonical modifiers, or nil, message.
function M.parse_mods(mods)
  local set = {}
  if mods == nil then
    return set
  end
  if type(mods) ~= 'string' then
    return nil, 'mods must be a string'
  end
  for ele in (mods .. '|'):gmatch('([^|]*)|') do
    ele = ele:match('^%s*(.-)%s*$')
    local m = WEZ_MODS[ele]
    if m == nil then
      return nil, 'invalid modifier name ' .. ele .. ' in ' .. mods
    end
    if m then
      set[m] = true
    end
  end
  return set
end

local function mods_string(set)
  local out = {}
  for _, m in ipairs(MOD_ORDER) do
    if set[m] then
      out[#out + 1] = m
    end
  end
  return #out > 0 and table.concat(out, '|') or 'NONE'
end

--- The (key, mods) WezTerm binds a config.keys entry to, as one string such as "N/CTRL":
--- mods normalised, SHIFT + an ASCII letter folded into the upper-case letter
--- (normalize_shift), `mapped:` dropped. nil when WezTerm would reject the entry.
function M.chord_id(key, mods)
  if type(key) ~= 'string' or key == '' then
    return nil
  end
  local set = M.parse_mods(mods)
  if not set then
    return nil
  end
  key = key:gsub('^mapped:', '')
  if utf8_len(key) == 1 then
    if set.SHIFT and key:match('^%a$') then
      key = key:upper()
      set.SHIFT = nil
    end
  else
    local n = key:match('^F(%d+)$')
    if n and (tonumber(n) < 1 or tonumber(n) > 24) then
      return nil
    end
  end
  local bits = 0
  for m in pairs(set) do
    bits = bits + MOD_BITS[m]
  end
  return key .. '/' .. mods_string(set), bits
end

--- Parse "ctrl+shift+n" into {key='n', mods='CTRL|SHIFT'}; nil, message when WezTerm would not
--- accept it (function keys F1-F24 only, one character counted in UTF-8, known names).
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
  local seen = {}
  for i = 1, #parts - 1 do
    local m = MODS[parts[i]:lower()]
    if not m then
      return nil, 'unknown modifier "' .. parts[i] .. '" in "' .. spec .. '"'
    end
    seen[m] = true
  end
  local key = parts[#parts]
  local lower = key:lower()
  local fn = lower:match('^f(%d+)$')
  if NAMED[lower] then
    key = NAMED[lower]
  elseif fn then
    local n = tonumber(fn)
    if n < 1 or n > 24 then
      return nil, 'function key "' .. key .. '" in "' .. spec .. '": WezTerm knows F1 to F24'
    end
    key = 'F' .. n
  elseif utf8_len(key) == 1 then
    key = utf8.char(utf8.codepoint(key)):lower()
  else
    return nil, 'unknown key "' .. key .. '" in "' .. spec .. '"'
  end
  return { key = key, mods = mods_string(seen) }
end

--- The binding per action: defaults < ui.keybindings < opts.keys (false disables one).
-- Returns map action -> spec string, and a list of warnings.
function M.resolve(ui_keybindings, opt_keys)
  local out, warnings = {}, {}
  for action, spec in pairs(M.DEFAULTS) do
    out[action] = spec
  end
  -- not ipairs{...}: it would stop at a nil ui_keybindings and skip opts.keys
  local layers = { ui_keybindings or false, opt_keys or false }
  for i = 1, 2 do
    local layer = layers[i]
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

local function describe(entry)
  return tostring(entry.mods or 'NONE') .. '+' .. tostring(entry.key)
end

--- Append config.keys entries for the resolved bindings. WezTerm lets a later entry win, so a
--- chord the user's config.keys already binds (compared as WezTerm compares them) is left to
--- the user, and said in the returned notes.
-- @param actions map action name -> wezterm action
-- @return entries added, warnings, notes {kept=..., shadowed=...}
function M.apply(config, bindings, actions)
  config.keys = config.keys or {}
  local taken = {}
  for i, k in ipairs(config.keys) do
    if type(k) == 'table' then
      local id = M.chord_id(k.key, k.mods)
      if id then
        taken[id] = { index = i, entry = k }
      end
    end
  end
  local added, warnings, notes = {}, {}, { kept = {}, shadowed = {} }
  local names = {}
  for name in pairs(bindings) do
    names[#names + 1] = name
  end
  table.sort(names)
  for _, name in ipairs(names) do
    local spec = bindings[name]
    if spec and actions[name] then
      local parsed, err = M.parse(spec)
      local id = parsed and M.chord_id(parsed.key, parsed.mods)
      if not parsed then
        warnings[#warnings + 1] = err .. '; ' .. name .. ' gets no key'
      elseif taken[id] then
        local t = taken[id]
        local msg
        if t.plugin then
          msg = spec .. ' is already bound to ' .. t.plugin .. '; not binding ' .. name
        else
          msg = 'your config.keys entry #' .. t.index .. ' (' .. describe(t.entry) .. ') keeps '
            .. spec .. '; ' .. name .. ' is not bound to it'
        end
        warnings[#warnings + 1] = msg
        notes.kept[#notes.kept + 1] = msg
      else
        local entry = { key = parsed.key, mods = parsed.mods, action = actions[name] }
        table.insert(config.keys, entry)
        added[#added + 1] = entry
        taken[id] = { plugin = name, entry = entry }
        if M.SHADOWED[id] then
          notes.shadowed[#notes.shadowed + 1] = spec .. ' (' .. name .. ') replaces WezTerm\'s '
            .. M.SHADOWED[id]
        end
      end
    end
  end
  return added, warnings, notes
end

return M
