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

--- How long (seconds) a `wzp config show` result is reused across config evaluations.
local CONFIG_CACHE_SECONDS = 30

-- The plugin context: options of the last setup() in this Lua state. Actions and the status
-- handler read it when they run, so a second setup() (config reload) takes effect at once.
local ctx = {
  wezterm = wezterm,
  opts = {},
  runner = cli.runner(wezterm, 'wzp'),
  theme = status.theme(),
  registered = {},
}

local function log(msg)
  if ctx.opts.debug then
    wezterm.log_info('wezterm-parallel: ' .. msg)
  end
end

--- The uid, from $UID or once per WezTerm process from `id -u` (kept in wezterm.GLOBAL).
local function uid()
  local env = os.getenv('UID')
  if env and env:match('^%d+$') then
    return env
  end
  local cached = wezterm.GLOBAL.wzp_uid
  if cached then
    return cached
  end
  local ok, success, out = pcall(wezterm.run_child_process, { 'id', '-u' })
  local value = ok and success and tostring(out):match('%d+') or nil
  if value then
    wezterm.GLOBAL.wzp_uid = value
  end
  return value
end

--- The status.json path used by the status bar.
function M.status_file()
  if not ctx.status_path then
    ctx.status_path = ctx.opts.status_file or paths.status_file(os.getenv, uid)
  end
  return ctx.status_path
end

function ctx.get_reader()
  if not ctx.reader then
    ctx.reader = status.reader {
      path = M.status_file(),
      json_parse = wezterm.json_parse,
      now = ctx.opts.clock,
      read_interval = ctx.read_interval,
    }
  end
  return ctx.reader
end

--- argv of `wzp config show` (the action re-reads templates with it, with --config when set).
function ctx.config_show_args(with_path)
  local args = { 'config', 'show', '--format', 'json' }
  if with_path and ctx.opts.config_path then
    args[#args + 1] = '--config'
    args[#args + 1] = ctx.opts.config_path
  end
  return args
end

--- The wzp config's ui section ({keybindings=, theme=}), read once per setup and shared
--- between config evaluations for a few seconds through wezterm.GLOBAL.
local function load_ui()
  local key = 'wzp_ui:' .. table.concat(ctx.runner.prefix, ' ') .. ':' .. tostring(ctx.opts.config_path)
  local now = os.time()
  -- kept as scalars (time, JSON text): wezterm.GLOBAL hands tables back as userdata proxies
  local at, cached = wezterm.GLOBAL[key .. ':at'], wezterm.GLOBAL[key .. ':json']
  if at and cached and now - at < CONFIG_CACHE_SECONDS then
    local ok, ui = pcall(wezterm.json_parse, cached)
    if ok and type(ui) == 'table' then
      return ui
    end
  end
  local cfg, err = ctx.runner:json(ctx.config_show_args(true))
  if not cfg and ctx.opts.config_path then
    cfg, err = ctx.runner:json(ctx.config_show_args())
  end
  local ui = {}
  if cfg and type(cfg.ui) == 'table' then
    ui = { keybindings = cfg.ui.keybindings, theme = cfg.ui.theme, status_bar = cfg.ui.status_bar }
  elseif not cfg then
    wezterm.log_warn('wezterm-parallel: using default keys and colours (' .. tostring(err) .. ')')
  end
  local ok, text = pcall(wezterm.json_encode, ui)
  if ok then
    wezterm.GLOBAL[key .. ':at'] = now
    wezterm.GLOBAL[key .. ':json'] = text
  end
  return ui
end

--- The plugin's actions, usable in config.keys: create_workspace, switch_workspace,
--- show_dashboard, kill_process, jump_to_waiting.
M.actions = actions.build(ctx)

local function status_handler(window, pane)
  if ctx.handler then
    ctx.handler(window, pane)
  end
end

--- Apply the plugin to a WezTerm config.
-- @param config the table from wezterm.config_builder() (or a plain table)
-- @param opts table, all optional:
--   wzp         "wzp" (default), a path, or an argv table such as {"python3", "-m", "wzp_supervisor"}
--   config_path wzp config file (`--config`) for keys, theme, templates and auto_start's `wzp up`
--   status_file status.json path (default: as wzp_supervisor/paths.py computes it)
--   auto_start  start the daemon (`wzp up`) in the background once when it is not running
--   keys        {action = "ctrl+shift+x" | false, ...} overriding ui.keybindings; false: no keys
--   theme       {waiting=, busy=, idle=, error=, stale=, muted=, text=} colours over ui.theme
--   status_bar  false: no update-status handler (use M.format_status()); default: ui.status_bar.enabled
--   show_resources  false: no cpu / memory in the bar; default: ui.status_bar.show_resources
--   notify      false: no toasts on transitions into waiting_input / fatal
--   read_config false: do not run `wzp config show` at setup (defaults + opts only)
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
    ui = load_ui()
  end
  ctx.theme = status.theme(ui.theme, opts.theme)

  local bar = type(ui.status_bar) == 'table' and ui.status_bar or {}
  local want_bar = opts.status_bar
  if want_bar == nil then
    want_bar = bar.enabled ~= false
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

  if opts.keys ~= false then
    local bindings, warnings = keys.resolve(ui.keybindings, opts.keys)
    local added, more = keys.apply(config, bindings, M.actions)
    for _, w in ipairs(warnings) do
      wezterm.log_warn('wezterm-parallel: ' .. w)
    end
    for _, w in ipairs(more) do
      wezterm.log_warn('wezterm-parallel: ' .. w)
    end
    log(#added .. ' key bindings added')
  end

  if opts.auto_start and not wezterm.GLOBAL.wzp_autostarted then
    wezterm.GLOBAL.wzp_autostarted = true
    local quoted = util.shell_join(ctx.runner.prefix)
    local up = quoted .. ' up'
    if opts.config_path then
      up = up .. ' --config ' .. util.shell_quote(opts.config_path)
    end
    local line = quoted .. ' ping >/dev/null 2>&1 || exec ' .. up
    local ok, err = pcall(wezterm.background_child_process, { '/bin/sh', '-c', line })
    if not ok then
      wezterm.log_error('wezterm-parallel: auto start failed: ' .. tostring(err))
    end
    log('auto start: ' .. line)
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
