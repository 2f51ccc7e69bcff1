--- wezterm-parallel: the WezTerm side of the wzp supervisor.
--
--   local wzp = require 'wezterm_parallel'   -- or wezterm.plugin.require(<repo url>)
--   wzp.setup(config, { auto_start = true })
--
-- Follows the WezTerm 20240203 stable API (no wezterm.serde).

local wezterm = require 'wezterm'
local actions = require 'wezterm_parallel.actions'
local cli = require 'wezterm_parallel.cli'
local keys = require 'wezterm_parallel.keys'
local paths = require 'wezterm_parallel.paths'
local status = require 'wezterm_parallel.status'
local util = require 'wezterm_parallel.util'

local M = {}

M.VERSION = '0.1.0'

-- The plugin context: options of the last setup() in this Lua state. Actions and the status
-- handler read it when they run, so a second setup() (config reload) takes effect at once.
local ctx = {
  wezterm = wezterm,
  opts = {},
  runner = cli.runner(wezterm, 'wzp'),
  theme = status.theme(),
  ui = {},
  registered = {},
}

local function log(msg)
  if ctx.opts.debug then
    wezterm.log_info('wezterm-parallel: ' .. msg)
  end
end

--- The uid for the runtime dir: $UID or /proc/self/status, else what the gui-startup /
--- gui-attached handler found with `id -u` (kept in wezterm.GLOBAL). Never a process here:
--- this runs while WezTerm evaluates its config.
local function uid()
  return paths.uid_without_process(os.getenv) or wezterm.GLOBAL.wzp_uid
end

--- The status.json path used by the status bar.
function M.status_file()
  if not ctx.status_path then
    ctx.status_path = ctx.opts.status_file or paths.status_file(os.getenv, uid)
  end
  return ctx.status_path
end

--- The daemon's token file: status.json and ui.json must carry its token.
function M.token_file()
  if ctx.opts.token_file ~= nil then
    return ctx.opts.token_file or nil
  end
  return paths.token_file(os.getenv)
end

--- The ui file the daemon writes beside status.json (keys, theme, templates, ui flags).
function M.ui_file()
  return ctx.opts.ui_file or paths.ui_file(os.getenv, uid)
end

function ctx.get_reader()
  if not ctx.reader then
    ctx.reader = status.reader {
      path = M.status_file(),
      token_file = M.token_file(),
      json_parse = wezterm.json_parse,
      now = ctx.opts.clock,
      read_interval = ctx.read_interval,
    }
  end
  return ctx.reader
end

--- argv of `wzp config show` (the create action's fallback when there is no ui file yet).
function ctx.config_show_args(with_path)
  local args = { 'config', 'show', '--format', 'json' }
  if with_path and ctx.opts.config_path then
    args[#args + 1] = '--config'
    args[#args + 1] = ctx.opts.config_path
  end
  return args
end

--- UI_SCHEMA: the ui file layout this plugin reads (wzp_supervisor/ui_file.py SCHEMA).
M.UI_SCHEMA = 1

--- The ui document: read with io.open like status.json, never with a child process.
--- Returns {} (built-in defaults) when there is no file yet or it cannot be used.
function M.read_ui()
  local path = M.ui_file()
  local f = path and io.open(path, 'rb')
  if not f then
    log('no ui file at ' .. tostring(path) .. ' yet: built-in keys and colours')
    return {}
  end
  local text = f:read('a')
  f:close()
  local ok, doc = pcall(wezterm.json_parse, text or '')
  if not ok or type(doc) ~= 'table' then
    wezterm.log_warn('wezterm-parallel: ' .. path .. ' is not JSON; using built-in keys and colours')
    return {}
  end
  local want = paths.read_token(M.token_file())
  if want ~= nil and doc.token ~= want then
    wezterm.log_warn('wezterm-parallel: ' .. path .. ' does not carry the daemon\'s token '
      .. '(another user may have made it); using built-in keys and colours')
    return {}
  end
  if doc.schema ~= M.UI_SCHEMA then
    wezterm.log_warn('wezterm-parallel: ' .. path .. ' has schema ' .. tostring(doc.schema)
      .. ', this plugin reads ' .. M.UI_SCHEMA .. '; using built-in keys and colours')
    return {}
  end
  return doc
end

--- The plugin's actions, usable in config.keys: create_workspace, switch_workspace,
--- show_dashboard, kill_process, jump_to_waiting, answer_waiting.
M.actions = actions.build(ctx)

local function status_handler(window, pane)
  if ctx.handler then
    ctx.handler(window, pane)
  end
end

--- Where neither $UID nor /proc tells the uid (macOS), ask `id -u` once per GUI process, from
--- a GUI event (never during config evaluation), and point the status reader at the right
--- file. Later config evaluations find it in wezterm.GLOBAL.
local function ensure_uid()
  if paths.uid_without_process(os.getenv) or wezterm.GLOBAL.wzp_uid then
    return
  end
  local ok, success, out = pcall(wezterm.run_child_process, { 'id', '-u' })
  local value = ok and success and tostring(out):match('%d+') or nil
  if value then
    wezterm.GLOBAL.wzp_uid = value
    if ctx.reader and not ctx.opts.status_file then
      ctx.status_path = nil
      ctx.reader.path = M.status_file()
    end
  end
end

--- `wzp ping || wzp up`, in the background, once per GUI process. Runs from gui-startup and
--- gui-attached (on the GUI main thread, one at a time), never while the config is evaluated.
local function on_gui_ready()
  ensure_uid()
  if not ctx.opts.auto_start or wezterm.GLOBAL.wzp_autostarted then
    return
  end
  wezterm.GLOBAL.wzp_autostarted = true
  local quoted = util.shell_join(ctx.runner.prefix)
  local up = quoted .. ' up'
  if ctx.opts.config_path then
    up = up .. ' --config ' .. util.shell_quote(ctx.opts.config_path)
  end
  local line = quoted .. ' ping >/dev/null 2>&1 || exec ' .. up
  local ok, err = pcall(wezterm.background_child_process, { '/bin/sh', '-c', line })
  if not ok then
    wezterm.log_error('wezterm-parallel: auto start failed: ' .. tostring(err))
  end
  log('auto start: ' .. line)
end

--- How inactive panes are dimmed with ui.auto_hide_inactive_panes (config.inactive_pane_hsb;
--- WezTerm's own default is saturation 0.9, brightness 0.8).
M.HIDDEN_PANE_HSB = { hue = 1.0, saturation = 0.5, brightness = 0.3 }

--- Apply the plugin to a WezTerm config. Starts no process: what it needs from the wzp config
--- comes from the ui file the daemon writes beside status.json (see M.ui_file()).
-- @param config the table from wezterm.config_builder() (or a plain table)
-- @param opts table, all optional:
--   wzp         "wzp" (default), a path, or an argv table such as {"python3", "-m", "wzp_supervisor"}
--   config_path wzp config file, passed to auto_start's `wzp up --config` and `wzp config show`
--   status_file status.json path (default: as wzp_supervisor/paths.py computes it)
--   ui_file     ui file path (default: ui.json beside status.json)
--   auto_start  start the daemon (`wzp ping || wzp up`) once per GUI, from gui-startup/gui-attached
--   keys        false: no keys; or {action = "ctrl+shift+x" | false, ...} over ui.keybindings
--   theme       "dark" | "light" | {waiting=, busy=, idle=, error=, stale=, muted=, text=} over ui.theme
--   status_bar  false: no update-status handler (use M.format_status()); default: ui.show_process_status
--               and ui.status_bar.enabled
--   show_resources  false: no cpu / memory in the bar; default: ui.status_bar.show_resources
--   auto_hide_inactive_panes  dim inactive panes (config.inactive_pane_hsb); default: the ui flag
--   notify      false: no toasts on transitions into waiting_input / fatal
--   read_config false: ignore the ui file (defaults + opts only)
--   debug       log what the plugin does
-- @return config
function M.setup(config, opts)
  opts = opts or {}
  ctx.opts = opts
  ctx.runner = cli.runner(wezterm, opts.wzp or 'wzp')
  ctx.status_path = nil
  ctx.reader = nil
  config = config or {}

  local ui = {}
  if opts.read_config ~= false then
    ui = M.read_ui()
  end
  ctx.ui = ui
  local theme, problems = status.theme(ui.theme, opts.theme)
  ctx.theme = theme
  for _, problem in ipairs(problems) do
    wezterm.log_warn('wezterm-parallel: ' .. problem)
  end

  local bar = type(ui.status_bar) == 'table' and ui.status_bar or {}
  local want_bar = opts.status_bar
  if want_bar == nil then
    want_bar = ui.show_process_status ~= false and bar.enabled ~= false
  end
  local show_resources = opts.show_resources
  if show_resources == nil then
    show_resources = bar.show_resources ~= false
  end
  ctx.show_resources = show_resources
  ctx.read_interval = math.max(1, tonumber(bar.update_interval) or 1)

  if want_bar then
    local reader = ctx.get_reader()
    ctx.handler = status.handler(wezterm, reader, {
      theme = ctx.theme,
      notify = opts.notify,
      show_resources = show_resources,
      on_error = function(err)
        wezterm.log_error('wezterm-parallel status: ' .. tostring(err))
      end,
    })
    if not ctx.registered['update-status'] then
      ctx.registered['update-status'] = true
      wezterm.on('update-status', status_handler)
    end
    log('status from ' .. M.status_file())
  else
    ctx.handler = nil
  end

  local hide = opts.auto_hide_inactive_panes
  if hide == nil then
    hide = ui.auto_hide_inactive_panes == true
  end
  if hide and config.inactive_pane_hsb == nil then
    config.inactive_pane_hsb = util.merge(M.HIDDEN_PANE_HSB, {})
  end

  if opts.keys ~= false then
    local bindings, warnings = keys.resolve(ui.keybindings, opts.keys)
    local added, more, notes = keys.apply(config, bindings, M.actions)
    for _, w in ipairs(warnings) do
      wezterm.log_warn('wezterm-parallel: ' .. w)
    end
    for _, w in ipairs(more) do
      wezterm.log_warn('wezterm-parallel: ' .. w)
    end
    for _, s in ipairs(notes.shadowed) do
      wezterm.log_info('wezterm-parallel: ' .. s .. ' (keep WezTerm\'s key with keys = {'
        .. s:match('%((.-)%)') .. ' = false} or keys = false)')
    end
    log(#added .. ' key bindings added')
  end

  for _, event in ipairs { 'gui-startup', 'gui-attached' } do
    if not ctx.registered[event] then
      ctx.registered[event] = true
      wezterm.on(event, on_gui_ready)
    end
  end
  return config
end

--- Alias of setup, the name wezterm plugins conventionally use.
M.apply_to_config = M.setup

--- The status bar string (wezterm.format escapes), for composing your own right status.
function M.format_status()
  local reader = ctx.get_reader()
  reader:refresh()
  return wezterm.format(status.render_items(reader:snapshot(), ctx.theme, ctx.show_resources))
end

--- The status bar text without colours, e.g. "⚡2 waiting ●3 busy ○1 idle ✖0 | cpu 34% mem 2.1G".
function M.status_text()
  local reader = ctx.get_reader()
  reader:refresh()
  return status.plain(status.render_items(reader:snapshot(), ctx.theme, ctx.show_resources))
end

return M
