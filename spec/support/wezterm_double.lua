--- A double of the `wezterm` Lua module for busted specs.
--
-- Follows the API of the stable WezTerm release 20240203-110809-5046fc22, checked against the
-- WezTerm docs (config/lua/...) for every function provided here:
--
--   wezterm.on / emit, action_callback (registers an event 'user-defined-N' and returns an
--   EmitEvent action, as wezterm does), action.<Name>{...} (actions as data: {Name = args}),
--   format (FormatItems: Text, Foreground/Background {Color|AnsiColor}, Attribute,
--   'ResetAttributes'), json_parse (raises on bad input, null -> nil) / json_encode,
--   run_child_process(argv) -> success, stdout, stderr (really runs argv, no shell semantics,
--   with the GUI's environment incl. WEZTERM_UNIX_SOCKET; raises when argv[1] cannot be found),
--   background_child_process(argv) (same, detached), GLOBAL (converts on write as share-data
--   does: arrays vs objects, number keys -> strings, functions refused), home_dir, config_builder, log_info/log_warn/log_error,
--   plugin.list, os.getenv (wezterm replaces it too; here it sees double.setenv overrides),
--   mux.spawn_window{workspace, cwd, args} -> tab, pane, window; mux.all_windows,
--   get_active_workspace, set_active_workspace, get_workspace_names, get_window, get_pane;
--   MuxWindow: window_id, tabs, tabs_with_info, active_tab, active_pane, spawn_tab,
--   get_workspace, set_workspace, gui_window; MuxTab: tab_id, panes, panes_with_info,
--   active_pane, window, activate; Pane: pane_id, split{direction, size, args, cwd},
--   activate, tab, window, get_user_vars, get_title, get_foreground_process_name,
--   get_foreground_process_info, get_dimensions, get_current_working_dir, send_text;
--   GUI Window: window_id, mux_window, active_pane, active_workspace, set_right_status,
--   set_left_status, toast_notification, focus, perform_action(action, pane) (pane required;
--   InputSelector/PromptInputLine callbacks get the window's active pane).
--
-- Not WezTerm API (spec helpers, all on the table returned by `require 'wezterm_double'`):
--   double.install()      put the module into package.preload['wezterm'] (and loaded)
--   double.reset()        forget events, mux, GLOBAL, logs; returns the module
--   double.calls          log of {fn=name, argv=...} for process-spawning functions
--   double.setenv(k, v)   environment seen by os.getenv and by spawned children
--   double.gui(mux_window) the GUI Window of a MuxWindow
--   double.select(win, id [, label])   answer the pending InputSelector of win
--   double.submit(win, line)           answer the pending PromptInputLine of win
--   double.cancel(win)                 dismiss the pending overlay (callback gets nils)
--   double.pending(win)                the pending overlay action ({InputSelector=...}) or nil
--   double.set_user_var(pane, k, v)    what a pane's OSC 1337 SetUserVar does
--   double.tick(win)                   emit 'update-right-status' then 'update-status' (one in
--                                      flight and one queued per window and event)
--   double.strip(s)                    text of a wezterm.format string without escapes
--   double.tree(tab)                   the tab's split tree: {pane=id,rect=...} leaves,
--                                      {direction='Right'|'Bottom'..., children={a,b}} nodes
--
-- Split geometry: a pane has a rect {left, top, width, height} in cells; windows are 80x24
-- (initial_cols/initial_rows) unless spawned with width and height. A split in direction
-- Right/Left divides the width, Top/Bottom the height, with WezTerm's arithmetic: the new pane
-- gets max(1, extent * pct // 100) cells (size 0 -> 50 %, < 1 -> floor(size * 100) %, >= 1 ->
-- cells), one cell goes to the divider, the old pane keeps the rest.
-- GLOBAL here returns stored tables as plain copies; real WezTerm hands back userdata proxies,
-- so the plugin keeps only scalars (numbers, strings) in it.

local dkjson = require 'dkjson'

local double = {}

local REAL_GETENV = os.getenv
-- config.initial_cols/initial_rows defaults (config/src/config.rs): mux.spawn_window without
-- width/height gets initial_size(0), and a window of a workspace the GUI does not show keeps it.
local WINDOW_COLS, WINDOW_ROWS = 80, 24
-- what wezterm-gui/src/main.rs puts into the GUI's own environment (children inherit it)
local GUI_SOCKET = '/run/user/0/wezterm/gui-sock-4242'

local function shell_quote(s)
  s = tostring(s)
  if s:match('^[%w%._/%-=:,@+]+$') then
    return s
  end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- wezterm.GLOBAL stores values as lua-api-crates/share-data/src/lib.rs converts them
-- (lua_value_to_gvalue): a table with a [1] is an array and may have no other keys; any other
-- table is an object whose keys become strings (numbers coerced, other key types raise); each
-- nested value is converted with a fresh `visited` set, so a table referenced twice is copied
-- twice, and a cycle recurses without end (WezTerm overflows its stack: here it raises).
-- Functions, threads and userdata raise. Top-level keys must be strings.
local function to_gvalue(v, depth)
  depth = depth or 0
  if depth > 200 then
    error('wezterm.GLOBAL: cyclic table (WezTerm 20240203 overflows its stack here)', 0)
  end
  local t = type(v)
  if t == 'table' then
    local out = {}
    if rawget(v, 1) ~= nil then
      local n = #v
      for k in pairs(v) do
        if math.type(k) ~= 'integer' or k < 1 or k > n then
          error('wezterm.GLOBAL: Unexpected key ' .. tostring(k) .. ' for array style table', 0)
        end
      end
      for i = 1, n do
        out[i] = to_gvalue(v[i], depth + 1)
      end
      return out
    end
    for k, x in pairs(v) do
      local key
      if type(k) == 'string' then
        key = k
      elseif type(k) == 'number' then
        key = tostring(k) -- mlua coerces a number key to a string
      else
        error('wezterm.GLOBAL: cannot use a ' .. type(k) .. ' as an object key', 0)
      end
      out[key] = to_gvalue(x, depth + 1)
    end
    return out
  elseif t == 'function' or t == 'userdata' or t == 'thread' then
    error('wezterm.GLOBAL: cannot store a ' .. t, 0)
  end
  return v
end

local function copy_plain(v)
  if type(v) ~= 'table' then
    return v
  end
  local out = {}
  for k, x in pairs(v) do
    out[k] = copy_plain(x)
  end
  return out
end

-- state -------------------------------------------------------------------------------------

local S -- all mutable state, replaced by reset()

local function new_state()
  return {
    handlers = {},
    callback_count = 0,
    next_window_id = 0,
    next_tab_id = 0,
    next_pane_id = 0,
    windows = {}, -- MuxWindow objects, creation order
    panes = {}, -- id -> Pane
    guis = {}, -- MuxWindow -> GUI Window
    active_workspace = 'default',
    global_store = {},
    env = {},
    gui_env = { WEZTERM_UNIX_SOCKET = GUI_SOCKET },
    in_flight = {}, -- window -> event -> 'running' | 'queued'
    logs = {},
    calls = {},
  }
end

-- format ------------------------------------------------------------------------------------

local ANSI = {
  Black = 0, Maroon = 1, Green = 2, Olive = 3, Navy = 4, Purple = 5, Teal = 6, Silver = 7,
  Grey = 8, Red = 9, Lime = 10, Yellow = 11, Blue = 12, Fuchsia = 13, Aqua = 14, White = 15,
}

-- a few CSS names SrgbaTuple::from_str knows (termwiz/src/color.rs); the double's subset
local CSS = {
  black = { 0, 0, 0 }, white = { 255, 255, 255 }, red = { 255, 0, 0 }, lime = { 0, 255, 0 },
  green = { 0, 128, 0 }, blue = { 0, 0, 255 }, yellow = { 255, 255, 0 }, orange = { 255, 165, 0 },
  gray = { 128, 128, 128 }, grey = { 128, 128, 128 }, silver = { 192, 192, 192 },
  purple = { 128, 0, 128 }, navy = { 0, 0, 128 }, teal = { 0, 128, 128 }, aqua = { 0, 255, 255 },
}

--- r, g, b of a colour string, or white when termwiz cannot parse it (FormatColor::Color in
--- lua-api-crates/termwiz-funcs/src/lib.rs: `unwrap_or_else(|()| (0xff, 0xff, 0xff))`).
local function parse_color(text)
  text = tostring(text)
  local r, g, b = text:match('^#(%x%x)(%x%x)(%x%x)$')
  if r then
    return tonumber(r, 16), tonumber(g, 16), tonumber(b, 16)
  end
  r, g, b = text:match('^#(%x)(%x)(%x)$')
  if r then
    return tonumber(r .. r, 16), tonumber(g .. g, 16), tonumber(b .. b, 16)
  end
  local named = CSS[text:lower()]
  if named then
    return named[1], named[2], named[3]
  end
  return 255, 255, 255
end
double.parse_color = parse_color

local function color_sgr(spec, base)
  if spec == 'Default' then
    return string.format('\27[%dm', base + 1)
  end
  if type(spec) ~= 'table' then
    error('wezterm.format: colour spec must be a table or "Default"', 3)
  end
  if spec.Color then
    return string.format('\27[%d:2::%d:%d:%dm', base, parse_color(spec.Color))
  elseif spec.AnsiColor then
    local idx = ANSI[spec.AnsiColor]
    if not idx then
      error('wezterm.format: unknown AnsiColor ' .. tostring(spec.AnsiColor), 3)
    end
    return string.format('\27[%d:5:%dm', base, idx)
  end
  error('wezterm.format: colour spec needs Color or AnsiColor', 3)
end

local function format(items)
  if type(items) ~= 'table' then
    error('wezterm.format expects an array of FormatItems', 2)
  end
  local out = {}
  for _, item in ipairs(items) do
    if item == 'ResetAttributes' then
      out[#out + 1] = '\27[0m'
    elseif type(item) == 'table' and item.Text ~= nil then
      out[#out + 1] = tostring(item.Text)
    elseif type(item) == 'table' and item.Foreground then
      out[#out + 1] = color_sgr(item.Foreground, 38)
    elseif type(item) == 'table' and item.Background then
      out[#out + 1] = color_sgr(item.Background, 48)
    elseif type(item) == 'table' and item.Attribute then
      local a = item.Attribute
      if a.Intensity == 'Bold' then
        out[#out + 1] = '\27[1m'
      elseif a.Intensity == 'Half' then
        out[#out + 1] = '\27[2m'
      elseif a.Intensity == 'Normal' then
        out[#out + 1] = '\27[22m'
      elseif a.Italic ~= nil then
        out[#out + 1] = a.Italic and '\27[3m' or '\27[23m'
      elseif a.Underline ~= nil then
        out[#out + 1] = a.Underline == 'None' and '\27[24m' or '\27[4m'
      else
        error('wezterm.format: unknown Attribute', 2)
      end
    else
      error('wezterm.format: unknown FormatItem ' .. tostring(item), 2)
    end
  end
  -- format_as_escapes always ends with a reset to default attributes
  out[#out + 1] = '\27[0m'
  return table.concat(out)
end

--- Text of a formatted string without its escape sequences.
function double.strip(s)
  return (tostring(s):gsub('\27%[[^m]*m', ''))
end

-- json --------------------------------------------------------------------------------------

local function json_parse(s)
  if type(s) ~= 'string' then
    error('json_parse: expected a string', 2)
  end
  local value, pos, err = dkjson.decode(s, 1, nil)
  if err then
    error('json_parse: ' .. err, 2)
  end
  if s:find('%S', pos) then
    error('json_parse: trailing characters at position ' .. pos, 2)
  end
  if value == nil and not s:match('^%s*null%s*$') then
    error('json_parse: no value', 2)
  end
  return value
end

local function json_encode(v)
  local out, err = dkjson.encode(v)
  if not out then
    error('json_encode: ' .. tostring(err), 2)
  end
  return out
end

-- processes ---------------------------------------------------------------------------------

--- The environment children see: the GUI's own (WEZTERM_UNIX_SOCKET from wezterm-gui/src/main.rs)
--- plus double.setenv overrides; false unsets.
local function child_env()
  local env = {}
  for k, v in pairs(S.gui_env) do
    env[k] = v
  end
  for k, v in pairs(S.env) do
    env[k] = v
  end
  return env
end

local function env_prefix()
  local parts = {}
  for k, v in pairs(child_env()) do
    if v == false then
      parts[#parts + 1] = '-u ' .. shell_quote(k)
    else
      parts[#parts + 1] = shell_quote(k .. '=' .. v)
    end
  end
  if #parts == 0 then
    return ''
  end
  table.sort(parts)
  return 'env ' .. table.concat(parts, ' ') .. ' '
end

local function is_executable(path)
  return os.execute('test -f ' .. shell_quote(path) .. ' -a -x ' .. shell_quote(path)) == true
end

--- smol::process::Command::new(argv[1]) looks the program up in PATH (or takes a path as is) and
--- spawning fails with an OS error that mlua raises (lua-api-crates/spawn-funcs/src/lib.rs).
local function check_program(program)
  if program:find('/', 1, true) then
    if is_executable(program) then
      return
    end
  else
    local env = child_env()
    local path = env.PATH
    if path == nil then
      path = REAL_GETENV('PATH')
    end
    for dir in tostring(path or ''):gmatch('[^:]+') do
      if is_executable(dir .. '/' .. program) then
        return
      end
    end
  end
  error('No such file or directory (os error 2): ' .. program, 3)
end

local function argv_command(argv)
  if type(argv) ~= 'table' or #argv == 0 then
    error('expected a non-empty argument array', 3)
  end
  local q = {}
  for i, a in ipairs(argv) do
    if type(a) ~= 'string' then
      error('argument ' .. i .. ' is not a string', 3)
    end
    q[i] = shell_quote(a)
  end
  -- `exec` keeps shell semantics out: argv[1] is run directly, as wezterm does
  return 'exec ' .. env_prefix() .. table.concat(q, ' ')
end

local function read_all(path)
  local f = io.open(path, 'rb')
  if not f then
    return ''
  end
  local s = f:read('a') or ''
  f:close()
  return s
end

local function run_child_process(argv)
  local copy = {}
  for i, a in ipairs(argv) do
    copy[i] = a
  end
  S.calls[#S.calls + 1] = { fn = 'run_child_process', argv = copy }
  local cmd = argv_command(argv)
  check_program(argv[1])
  local errfile = os.tmpname()
  local p = io.popen('( ' .. cmd .. ' ) </dev/null 2>' .. shell_quote(errfile), 'r')
  local stdout = p:read('a') or ''
  local ok, _, code = p:close()
  local stderr = read_all(errfile)
  os.remove(errfile)
  return (ok == true and code == 0), stdout, stderr
end

local function background_child_process(argv)
  local copy = {}
  for i, a in ipairs(argv) do
    copy[i] = a
  end
  S.calls[#S.calls + 1] = { fn = 'background_child_process', argv = copy }
  local cmd = argv_command(argv)
  check_program(argv[1])
  os.execute('( ' .. cmd .. ' ) </dev/null >/dev/null 2>&1 &')
end

-- mux ---------------------------------------------------------------------------------------

local Pane, MuxTab, MuxWindow, GuiWindow = {}, {}, {}, {}
Pane.__index, MuxTab.__index, MuxWindow.__index, GuiWindow.__index = Pane, MuxTab, MuxWindow, GuiWindow

local function new_pane(tab, rect, spec)
  local id = S.next_pane_id
  S.next_pane_id = id + 1
  local args = nil
  if spec and spec.args then
    args = {}
    for i, a in ipairs(spec.args) do
      if type(a) ~= 'string' then
        error('args[' .. i .. '] must be a string', 3)
      end
      args[i] = a
    end
  end
  local p = setmetatable({
    _id = id,
    _tab = tab,
    _rect = rect,
    args = args,
    cwd = spec and spec.cwd or nil,
    env = spec and spec.set_environment_variables or nil,
    _user_vars = {},
    _title = args and args[1] or 'shell',
    sent = {},
  }, Pane)
  S.panes[id] = p
  return p
end

local function new_tab(window, spec)
  local id = S.next_tab_id
  S.next_tab_id = id + 1
  local tab = setmetatable({ _id = id, _window = window }, MuxTab)
  local pane = new_pane(tab, { left = 0, top = 0, width = window._cols, height = window._rows }, spec)
  tab._root = { pane = pane }
  tab._active = pane
  window._tabs[#window._tabs + 1] = tab
  window._active_tab = tab
  return tab, pane
end

local function new_window(workspace, cols, rows)
  local id = S.next_window_id
  S.next_window_id = id + 1
  local w = setmetatable({ _id = id, _workspace = workspace or S.active_workspace, _tabs = {},
                           _cols = cols or WINDOW_COLS, _rows = rows or WINDOW_ROWS }, MuxWindow)
  S.windows[#S.windows + 1] = w
  return w
end

local function check_spawn_spec(spec, allowed, what)
  if spec == nil then
    return
  end
  if type(spec) ~= 'table' then
    error(what .. ': expected a table', 3)
  end
  for k in pairs(spec) do
    if not allowed[k] then
      error(what .. ': unknown field ' .. tostring(k), 3)
    end
  end
  if spec.cwd ~= nil and type(spec.cwd) ~= 'string' then
    error(what .. ': cwd must be a string', 3)
  end
end

local SPAWN_FIELDS = {
  args = true, cwd = true, set_environment_variables = true, domain = true,
  workspace = true, width = true, height = true, position = true,
}
local SPLIT_FIELDS = {
  args = true, cwd = true, set_environment_variables = true, domain = true,
  direction = true, size = true, top_level = true,
}

local mux = {}

function mux.spawn_window(spec)
  check_spawn_spec(spec, SPAWN_FIELDS, 'spawn_window')
  S.calls[#S.calls + 1] = { fn = 'mux.spawn_window', spec = spec }
  local cols, rows
  if spec and spec.width and spec.height then -- both or neither (SpawnWindow::spawn)
    cols, rows = spec.width, spec.height
  end
  local w = new_window(spec and spec.workspace, cols, rows)
  local tab, pane = new_tab(w, spec)
  return tab, pane, w
end

function mux.all_windows()
  local out = {}
  for i, w in ipairs(S.windows) do
    out[i] = w
  end
  return out
end

function mux.get_active_workspace()
  return S.active_workspace
end

function mux.set_active_workspace(name)
  for _, w in ipairs(S.windows) do
    if w._workspace == name then
      S.active_workspace = name
      return
    end
  end
  error('no workspace named ' .. tostring(name), 2)
end

function mux.get_workspace_names()
  local seen, out = {}, {}
  for _, w in ipairs(S.windows) do
    if not seen[w._workspace] then
      seen[w._workspace] = true
      out[#out + 1] = w._workspace
    end
  end
  table.sort(out)
  return out
end

function mux.get_window(id)
  for _, w in ipairs(S.windows) do
    if w._id == id then
      return w
    end
  end
  return nil
end

function mux.get_pane(id)
  local p = S.panes[id]
  if not p then
    error('pane id ' .. tostring(id) .. ' not found in mux', 2)
  end
  return p
end

-- MuxWindow
function MuxWindow:window_id() return self._id end
function MuxWindow:get_workspace() return self._workspace end
function MuxWindow:set_workspace(name) self._workspace = name end
function MuxWindow:tabs()
  local out = {}
  for i, t in ipairs(self._tabs) do
    out[i] = t
  end
  return out
end
function MuxWindow:tabs_with_info()
  local out = {}
  for i, t in ipairs(self._tabs) do
    out[i] = { index = i - 1, is_active = (t == self._active_tab), tab = t }
  end
  return out
end
function MuxWindow:active_tab() return self._active_tab end
function MuxWindow:active_pane() return self._active_tab and self._active_tab._active end
function MuxWindow:spawn_tab(spec)
  check_spawn_spec(spec, SPAWN_FIELDS, 'spawn_tab')
  S.calls[#S.calls + 1] = { fn = 'spawn_tab', spec = spec }
  local tab, pane = new_tab(self, spec)
  return tab, pane, self
end
--- The GUI window, or nil while the GUI does not show this window's workspace
--- (gui_window_for_mux_window: the GUI has windows only for its active workspace).
function MuxWindow:gui_window()
  if self._workspace ~= S.active_workspace then
    return nil
  end
  return double.gui(self)
end

-- MuxTab
function MuxTab:tab_id() return self._id end
function MuxTab:window() return self._window end
function MuxTab:active_pane() return self._active end
function MuxTab:activate() self._window._active_tab = self end

local function collect_leaves(node, out)
  if node.pane then
    out[#out + 1] = node.pane
  else
    collect_leaves(node.children[1], out)
    collect_leaves(node.children[2], out)
  end
  return out
end

function MuxTab:panes() return collect_leaves(self._root, {}) end
function MuxTab:panes_with_info()
  local out = {}
  for i, p in ipairs(self:panes()) do
    local r = p._rect
    out[i] = {
      index = i - 1, is_active = (p == self._active), is_zoomed = false,
      left = r.left, top = r.top, width = r.width, height = r.height,
      pixel_width = r.width * 8, pixel_height = r.height * 16, pane = p,
    }
  end
  return out
end

-- Pane
function Pane:pane_id() return self._id end
function Pane:tab() return self._tab end
function Pane:window() return self._tab._window end
function Pane:get_user_vars()
  local out = {}
  for k, v in pairs(self._user_vars) do
    out[k] = v
  end
  return out
end
function Pane:get_title() return self._title end
function Pane:get_foreground_process_name()
  return self.args and self.args[1] or '/bin/sh'
end
function Pane:get_foreground_process_info()
  local argv = {}
  for i, a in ipairs(self.args or { '/bin/sh' }) do
    argv[i] = a
  end
  return { pid = 10000 + self._id, ppid = 1, name = argv[1]:match('[^/]+$'), status = 'Run',
           argv = argv, executable = argv[1], cwd = self.cwd or '/', children = {} }
end
function Pane:get_current_working_dir()
  return self.cwd and { scheme = 'file', file_path = self.cwd, host = 'localhost' } or nil
end
function Pane:get_dimensions()
  local r = self._rect
  return { cols = r.width, viewport_rows = r.height, scrollback_rows = r.height,
           physical_top = 0, scrollback_top = 0 }
end
function Pane:send_text(s) self.sent[#self.sent + 1] = s end
function Pane:activate()
  local tab = self._tab
  tab._active = self
  tab._window._active_tab = tab
  S.active_pane_activated = self._id
end

local function find_node(node, pane, parent)
  if node.pane == pane then
    return node, parent
  end
  if node.children then
    for _, c in ipairs(node.children) do
      local n, p = find_node(c, pane, node)
      if n then
        return n, p
      end
    end
  end
end

local DIRS = { Right = 'width', Left = 'width', Top = 'height', Bottom = 'height' }

--- pane:split{direction='Right'|'Left'|'Top'|'Bottom', size=fraction, args=, cwd=}
function Pane:split(spec)
  spec = spec or {}
  check_spawn_spec(spec, SPLIT_FIELDS, 'split')
  local dir = spec.direction or 'Right'
  local axis = DIRS[dir]
  if not axis then
    error('split: direction must be Right, Left, Top or Bottom, got ' .. tostring(dir), 2)
  end
  local size = spec.size
  if size == nil then
    size = 0.5
  end
  if type(size) ~= 'number' then
    error('split: size must be a number', 2)
  end
  -- SplitPane::run (lua-api-crates/mux/src/pane.rs): 0 -> 50 %, < 1 -> floor(size * 100) %,
  -- else cells; split_dimension (mux/src/tab.rs): the new pane gets max(1, dim * pct / 100)
  -- (or the cells), the old one what remains after a one-cell divider.
  local r = self._rect
  local extent = r[axis]
  local new_extent
  if size == 0 then
    new_extent = extent * 50 // 100
  elseif size < 1 then
    new_extent = extent * math.floor(size * 100) // 100
  else
    new_extent = math.floor(size)
  end
  new_extent = math.max(1, new_extent)
  local old_extent = extent - new_extent - 1
  if old_extent < 1 then
    error('split: pane too small to split', 2)
  end
  local old_rect, new_rect = {}, {}
  for k, v in pairs(r) do
    old_rect[k], new_rect[k] = v, v
  end
  old_rect[axis], new_rect[axis] = old_extent, new_extent
  local pos = axis == 'width' and 'left' or 'top'
  if dir == 'Right' or dir == 'Bottom' then
    new_rect[pos] = r[pos] + old_extent + 1
  else
    old_rect[pos] = r[pos] + new_extent + 1
  end
  S.calls[#S.calls + 1] = { fn = 'split', from = self._id, spec = spec }
  local tab = self._tab
  local p = new_pane(tab, new_rect, spec)
  self._rect = old_rect
  local node = find_node(tab._root, self)
  local old_leaf, new_leaf = { pane = self }, { pane = p }
  node.pane = nil
  node.direction = dir
  node.size = size
  if dir == 'Right' or dir == 'Bottom' then
    node.children = { old_leaf, new_leaf }
  else
    node.children = { new_leaf, old_leaf }
  end
  return p
end

--- What OSC 1337 SetUserVar=name=<base64 value> written by the pane's program does: WezTerm
--- decodes the value and pane:get_user_vars() returns it (spec helper; '' clears it here).
function double.set_user_var(pane, name, value)
  pane._user_vars[name] = (value ~= '' and value) or nil
end

--- The split tree of a tab, with pane ids and rects (spec helper).
function double.tree(tab)
  local function conv(node)
    if node.pane then
      local r = node.pane._rect
      return { pane = node.pane._id, args = node.pane.args, cwd = node.pane.cwd,
               rect = { left = r.left, top = r.top, width = r.width, height = r.height } }
    end
    return { direction = node.direction, size = node.size,
             children = { conv(node.children[1]), conv(node.children[2]) } }
  end
  return conv(tab._root)
end

-- GUI window --------------------------------------------------------------------------------

function double.gui(mux_window)
  local g = S.guis[mux_window]
  if not g then
    g = setmetatable({ _mux = mux_window, right_status = nil, left_status = nil,
                       toasts = {}, performed = {}, _overlays = {} }, GuiWindow)
    S.guis[mux_window] = g
  end
  return g
end

function GuiWindow:window_id() return self._mux._id end
function GuiWindow:mux_window() return self._mux end
function GuiWindow:active_pane() return self._mux:active_pane() end
function GuiWindow:active_tab() return self._mux:active_tab() end
function GuiWindow:active_workspace() return S.active_workspace end
function GuiWindow:set_right_status(s)
  if type(s) ~= 'string' then
    error('set_right_status expects a string', 2)
  end
  self.right_status = s
end
function GuiWindow:set_left_status(s)
  if type(s) ~= 'string' then
    error('set_left_status expects a string', 2)
  end
  self.left_status = s
end
--- Raise and focus the OS window (GuiWin:focus, wezterm-gui/src/scripting/guiwin.rs).
function GuiWindow:focus()
  S.focused = self
  self.focus_count = (self.focus_count or 0) + 1
end
function GuiWindow:toast_notification(title, message, url, timeout)
  self.toasts[#self.toasts + 1] = { title = title, message = message, url = url, timeout = timeout }
end

local function emit(name, ...)
  local hs = S.handlers[name]
  if not hs then
    return true
  end
  for _, h in ipairs(hs) do
    local r = h(...)
    if r == false then
      return false
    end
  end
  return true
end

function GuiWindow:perform_action(action, pane)
  if type(action) ~= 'table' then
    error('perform_action: expected an action', 2)
  end
  -- the pane is required: (KeyAssignment, UserDataRef<MuxPane>) in guiwin.rs
  if getmetatable(pane) ~= Pane then
    error('perform_action: bad argument #2: expected a Pane, got ' .. type(pane), 2)
  end
  self.performed[#self.performed + 1] = action
  if action.EmitEvent then
    emit(action.EmitEvent, self, pane)
  elseif action.InputSelector or action.PromptInputLine then
    local args = action.InputSelector or action.PromptInputLine
    if type(args.action) ~= 'table' or not args.action.EmitEvent then
      error('overlay action must be a wezterm.action_callback', 2)
    end
    if action.InputSelector and type(args.choices) ~= 'table' then
      error('InputSelector needs choices', 2)
    end
    -- show_input_selector / show_prompt_input_line use the window's active pane, not `pane`
    self._overlays[#self._overlays + 1] = { action = action, pane = self:active_pane() }
  elseif action.SwitchToWorkspace then
    local a = action.SwitchToWorkspace
    local name = a.name or ('ws-' .. S.next_window_id)
    local exists = false
    for _, w in ipairs(S.windows) do
      if w._workspace == name then
        exists = true
      end
    end
    if not exists then
      mux.spawn_window { workspace = name, args = a.spawn and a.spawn.args, cwd = a.spawn and a.spawn.cwd }
    end
    S.active_workspace = name
  elseif action.SpawnCommandInNewTab then
    local a = action.SpawnCommandInNewTab
    self._mux:spawn_tab { args = a.args, cwd = a.cwd, set_environment_variables = a.set_environment_variables }
  elseif action.SpawnCommandInNewWindow then
    local a = action.SpawnCommandInNewWindow
    mux.spawn_window { args = a.args, cwd = a.cwd, workspace = S.active_workspace }
  end
end

local function take_overlay(win, kind)
  local o = table.remove(win._overlays)
  if not o then
    error('no pending overlay in this window', 3)
  end
  if kind and not o.action[kind] then
    error('pending overlay is not a ' .. kind, 3)
  end
  return o, o.action.InputSelector or o.action.PromptInputLine
end

function double.pending(win)
  local o = win._overlays[#win._overlays]
  return o and o.action or nil
end

function double.select(win, id, label)
  local o, args = take_overlay(win, 'InputSelector')
  if label == nil then
    for _, c in ipairs(args.choices) do
      if c.id == id or (c.id == nil and c.label == id) then
        label = c.label
      end
    end
    if label == nil then
      error('InputSelector has no choice ' .. tostring(id), 2)
    end
  end
  emit(args.action.EmitEvent, win, o.pane, id, label)
end

function double.submit(win, line)
  local o, args = take_overlay(win, 'PromptInputLine')
  emit(args.action.EmitEvent, win, o.pane, line)
end

function double.cancel(win)
  local o, args = take_overlay(win)
  emit(args.action.EmitEvent, win, o.pane, nil, nil)
end

--- One status tick of a window, as TermWindow::emit_status_event does it: update-right-status,
--- then update-status, each scheduled on the main thread. Per window and event at most one call
--- is in flight and one more queued (emit_window_event / EventState in
--- wezterm-gui/src/termwindow/mod.rs): a tick while an event is scheduled or running queues it
--- once, and the queued call runs after the running one returns.
local function emit_window_event(win, name)
  local states = S.in_flight[win]
  if not states then
    states = { run = {} }
    S.in_flight[win] = states
  end
  local st = states[name]
  if st then
    st.queued = true
    return
  end
  states[name] = { queued = false }
  states.run[#states.run + 1] = name
end

local function run_window_events(win)
  local states = S.in_flight[win]
  if states.running then
    return -- the outer call drains the queue
  end
  states.running = true
  while #states.run > 0 do
    local name = table.remove(states.run, 1)
    local ok, err = pcall(emit, name, win, win:active_pane())
    local st = states[name]
    if st.queued then
      st.queued = false
      states.run[#states.run + 1] = name
    else
      states[name] = nil
    end
    if not ok then
      states.running = false
      error(err, 0)
    end
  end
  states.running = false
end

function double.tick(win)
  emit_window_event(win, 'update-right-status')
  emit_window_event(win, 'update-status')
  run_window_events(win)
end

-- module ------------------------------------------------------------------------------------

local function make_action_namespace()
  return setmetatable({}, {
    __index = function(_, name)
      -- act.Name is a unit action; act.Name{...} / act.Name(x) builds one with arguments
      return setmetatable({ [name] = true }, {
        __call = function(_, args)
          return { [name] = args }
        end,
      })
    end,
  })
end

local function make_global()
  return setmetatable({}, {
    __index = function(_, k)
      if type(k) ~= 'string' then
        error('can only index objects using string values', 2)
      end
      return copy_plain(S.global_store[k])
    end,
    __newindex = function(_, k, v)
      if type(k) ~= 'string' then
        error('can only index objects using string values', 2)
      end
      local ok, value = pcall(to_gvalue, v)
      if not ok then
        error(value, 2)
      end
      S.global_store[k] = value
    end,
  })
end

local function build_module()
  local w = {}
  w.version = '20240203-110809-5046fc22'
  w.home_dir = REAL_GETENV('HOME') or '/root'
  w.config_dir = w.home_dir .. '/.config/wezterm'
  w.config_file = w.config_dir .. '/wezterm.lua'
  w.target_triple = 'x86_64-unknown-linux-gnu'
  w.action = make_action_namespace()
  w.GLOBAL = make_global()
  w.mux = mux
  w.format = format
  w.json_parse = json_parse
  w.json_encode = json_encode
  w.run_child_process = run_child_process
  w.background_child_process = background_child_process
  w.plugin = { list = function() return {} end, require = function() error('not in the double') end }

  function w.on(name, fn)
    if type(fn) ~= 'function' then
      error('wezterm.on: handler must be a function', 2)
    end
    S.handlers[name] = S.handlers[name] or {}
    table.insert(S.handlers[name], fn)
  end

  function w.emit(name, ...)
    return emit(name, ...)
  end

  function w.action_callback(fn)
    if type(fn) ~= 'function' then
      error('action_callback expects a function', 2)
    end
    local name = 'user-defined-' .. S.callback_count
    S.callback_count = S.callback_count + 1
    w.on(name, fn)
    return { EmitEvent = name }
  end

  function w.config_builder()
    return {}
  end

  local function logger(level)
    return function(...)
      local parts = {}
      for i = 1, select('#', ...) do
        parts[i] = tostring((select(i, ...)))
      end
      S.logs[#S.logs + 1] = { level = level, msg = table.concat(parts, ' ') }
    end
  end
  w.log_info = logger('info')
  w.log_warn = logger('warn')
  w.log_error = logger('error')
  return w
end

local module = nil

local function getenv(name)
  local v = S.env[name]
  if v == false then
    return nil
  end
  if v ~= nil then
    return v
  end
  if S.gui_env[name] ~= nil then
    return S.gui_env[name]
  end
  return REAL_GETENV(name)
end

--- Forget all state and return the (new) wezterm module.
function double.reset()
  S = new_state()
  module = build_module()
  double.module = module
  double.calls = S.calls
  double.logs = S.logs
  package.loaded['wezterm'] = module
  return module
end

--- Set (or with false, unset) an environment variable for os.getenv and spawned children.
function double.setenv(name, value)
  S.env[name] = value
end

--- Put the double into package.preload['wezterm'] and replace os.getenv like wezterm does.
function double.install()
  double.reset()
  package.preload['wezterm'] = function()
    return module
  end
  os.getenv = getenv -- luacheck: ignore (wezterm itself replaces os.getenv)
  return module
end

--- Calls of one process-spawning function from the log.
function double.calls_of(fn)
  local out = {}
  for _, c in ipairs(S.calls) do
    if c.fn == fn then
      out[#out + 1] = c
    end
  end
  return out
end

function double.handlers(name)
  return S.handlers[name] or {}
end

double.shell_quote = shell_quote
double.WINDOW_COLS, double.WINDOW_ROWS = WINDOW_COLS, WINDOW_ROWS

return double
