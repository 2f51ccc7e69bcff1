--- The status bar: read status.json (and nothing else), render it, toast transitions.
--
-- The update-status handler built here reads the file with io.open and parses it with
-- wezterm.json_parse; it never starts a process or opens a socket. The file is re-read at most
-- once a second and the formatted text is cached in between. A missing file shows "wzp off";
-- a half-written or garbage file never raises: the last good snapshot stays on screen (or a
-- quiet "wzp ?" when there is none).

local states = require 'wezterm_parallel.states'
local paths = require 'wezterm_parallel.paths'
local util = require 'wezterm_parallel.util'

local M = {}

--- Default colours; every key can be overridden by ui.theme in the wzp config or opts.theme.
M.DEFAULT_THEME = {
  waiting = '#e0af68',
  busy = '#7aa2f7',
  idle = '#9ece6a',
  error = '#f7768e',
  stale = '#ff9e64',
  muted = '#737aa2',
  text = '#c0caf5',
}

--- Seconds after which the status timestamp counts as stale.
M.STALE_AFTER = 5
--- Minimum seconds between two reads of status.json.
M.READ_INTERVAL = 1
--- Most toasts shown for one read; the rest are summed up in one more toast.
M.MAX_TOASTS = 3

--- Named themes (ui.theme: "dark" | "light").
M.THEMES = {
  dark = M.DEFAULT_THEME,
  light = {
    waiting = '#8f5e15',
    busy = '#2e5cb8',
    idle = '#33635c',
    error = '#b3263e',
    stale = '#965027',
    muted = '#6172b0',
    text = '#343b58',
  },
}

--- Whether WezTerm can parse `color` (termwiz's SrgbaTuple::from_str): #rgb, #rrggbb,
--- #rrggbbaa, rgb()/rgba()/hsl()/hsla(), or a name (names are not checked here). WezTerm
--- shows a colour it cannot parse as white.
function M.color_ok(color)
  if type(color) ~= 'string' then
    return false
  end
  local hex = color:match('^#(%x+)$')
  if hex then
    return #hex == 3 or #hex == 6 or #hex == 8
  end
  return color:match('^%a+$') ~= nil or color:match('^[hr][sg][lb]a?%(.*%)$') ~= nil
end

--- Normalise themes (later ones win). Each may be a name from M.THEMES (which replaces what
--- came before) or a table with the state names of ui.theme in the wzp config (waiting_input,
--- busy, idle, fatal, stale; `starting` is shown with busy) and the plugin's own keys
--- (waiting, error, muted, text), with or without a `_color` suffix. An unknown name is
--- ignored, with a message in the second return value.
function M.theme(...)
  local out = util.merge(M.DEFAULT_THEME, {})
  local problems = {}
  for i = 1, select('#', ...) do
    local t = select(i, ...)
    if type(t) == 'string' then
      local named = M.THEMES[t:lower()]
      if named then
        out = util.merge(named, {})
      else
        problems[#problems + 1] = 'unknown theme "' .. t .. '" (dark or light)'
      end
    elseif type(t) == 'table' then
      if type(t.name) == 'string' and M.THEMES[t.name:lower()] then
        out = util.merge(M.THEMES[t.name:lower()], {})
      end
      for k, v in pairs(t) do
        if type(k) == 'string' and k ~= 'name' and type(v) == 'string' then
          local key = k:gsub('_colou?r$', '')
          if key == 'fatal' then
            key = 'error'
          elseif key == 'waiting_input' then
            key = 'waiting'
          end
          if not M.color_ok(v) then
            problems[#problems + 1] = 'theme colour ' .. k .. ' = "' .. v
              .. '" is not a colour WezTerm knows; it would be shown white'
          end
          out[key] = v
        end
      end
    end
  end
  return out, problems
end

--- Counts shown in the bar, from status.json data: one per state group of
--- wezterm_parallel.states (waiting = attention, busy = working, idle, error = down).
function M.summary(data)
  local t = type(data.totals) == 'table' and data.totals or nil
  local by_group = { attention = 0, working = 0, idle = 0, down = 0 }
  local agents = 0
  if t then
    for _, state in ipairs(states.SHOWN_STATES) do
      local g = states.group_of(state)
      by_group[g] = by_group[g] + util.num(t[state], 0)
    end
    agents = util.num(t.agents, 0)
  elseif type(data.agents) == 'table' then
    for _, a in ipairs(data.agents) do
      local s = type(a) == 'table' and a.state or nil
      agents = agents + 1
      if type(s) == 'string' then
        local g = states.group_of(states.FOLDED[s] or s)
        by_group[g] = by_group[g] + 1
      end
    end
  end
  return {
    waiting = by_group.attention,
    busy = by_group.working,
    idle = by_group.idle,
    error = by_group.down,
    agents = agents,
    cpu = util.num(data.cpu, nil),
    rss = util.num(data.rss, nil),
  }
end

--- The pools of status.json, sorted by name: {name, busy, max, queued, paused_until} each, `paused_until`
--- (epoch seconds) only while a rate limit pauses the pool at the file's `ts`. Names are
--- shown with control characters replaced by '?'.
function M.pools(data)
  local out = {}
  if type(data.pools) ~= 'table' then
    return out
  end
  local ts = util.num(data.ts, 0)
  for name, p in pairs(data.pools) do
    if type(name) == 'string' and type(p) == 'table' then
      local untl = util.num(p.rate_limited_until, nil)
      out[#out + 1] = {
        name = name:gsub('%c', '?'),
        busy = util.num(p.busy, 0),
        max = util.num(p.max, 0),
        queued = util.num(p.queued, 0),
        paused_until = (untl and untl > ts) and untl or nil,
      }
    end
  end
  table.sort(out, function(a, b)
    return a.name < b.name
  end)
  return out
end

local function age_text(age)
  if age < 120 then
    return string.format('%ds', math.floor(age))
  elseif age < 7200 then
    return string.format('%dm', math.floor(age / 60))
  end
  return string.format('%dh', math.floor(age / 3600))
end

--- FormatItems for one state of the reader.
-- @param snap {state='ok'|'missing'|'invalid'|'untrusted', data=table|nil, age=seconds|nil}
-- @param theme a table from M.theme()
-- @param show_resources false: leave out cpu and memory (ui.status_bar.show_resources)
function M.render_items(snap, theme, show_resources)
  theme = theme or M.DEFAULT_THEME
  local items = {}
  local function add(color, text)
    items[#items + 1] = { Foreground = { Color = color } }
    items[#items + 1] = { Text = text }
  end
  if snap.data == nil then
    if snap.state == 'untrusted' then
      add(theme.error, 'wzp ⚠ status file not ours')
    else
      add(theme.muted, snap.state == 'missing' and 'wzp off' or 'wzp ?')
    end
    items[#items + 1] = 'ResetAttributes'
    return items
  end
  local c = M.summary(snap.data)
  if snap.age and snap.age > M.STALE_AFTER then
    add(theme.stale, '⚠ stale ' .. age_text(snap.age) .. ' ')
  end
  add(c.waiting > 0 and theme.waiting or theme.muted, string.format('⚡%d waiting ', c.waiting))
  add(theme.busy, string.format('●%d busy ', c.busy))
  add(theme.idle, string.format('○%d idle ', c.idle))
  add(c.error > 0 and theme.error or theme.muted, string.format('✖%d', c.error))
  if show_resources ~= false and (c.cpu or c.rss) then
    local parts = {}
    if c.cpu then
      parts[#parts + 1] = string.format('cpu %d%%', math.floor(c.cpu + 0.5))
    end
    if c.rss then
      parts[#parts + 1] = 'mem ' .. util.format_bytes(c.rss)
    end
    add(theme.muted, ' | ')
    add(theme.text, table.concat(parts, ' '))
  end
  for _, p in ipairs(M.pools(snap.data)) do
    add(theme.muted, ' | ')
    add(theme.text, string.format('pool %s %d/%d q%d', p.name, p.busy, p.max, p.queued))
    if p.paused_until then
      add(theme.waiting, ' rate-limited until ' .. os.date('%H:%M', math.floor(p.paused_until)))
    end
  end
  items[#items + 1] = 'ResetAttributes'
  return items
end

--- The plain text of FormatItems (for logs, specs and `status_text`).
function M.plain(items)
  local out = {}
  for _, it in ipairs(items) do
    if type(it) == 'table' and it.Text then
      out[#out + 1] = it.Text
    end
  end
  return table.concat(out)
end

-- reader --------------------------------------------------------------------------------------

local Reader = {}
Reader.__index = Reader

--- A cached reader of status.json.
-- @param opts {path=string, json_parse=function, now=function() -> seconds,
--   token_file=string|nil: when that file exists, a snapshot must carry its token}
function M.reader(opts)
  return setmetatable({
    path = opts.path,
    token_file = opts.token_file,
    token = nil,
    json_parse = opts.json_parse,
    now = opts.now or os.time,
    read_interval = opts.read_interval or M.READ_INTERVAL,
    last_read = nil,
    state = 'missing',
    data = nil,
    reads = 0,
  }, Reader)
end

local function valid(data)
  return type(data) == 'table' and (type(data.totals) == 'table' or type(data.agents) == 'table')
end

--- Read the file now (no caching). Returns true when a good snapshot was loaded.
function Reader:read()
  self.reads = self.reads + 1
  local f = self.path and io.open(self.path, 'rb')
  if not f then
    self.state, self.data = 'missing', nil
    return false
  end
  local ok_read, text = pcall(f.read, f, 'a')
  f:close()
  if not ok_read or type(text) ~= 'string' or text == '' then
    self.state = 'invalid'
    return false
  end
  local ok, data = pcall(self.json_parse, text)
  if not ok or not valid(data) then
    self.state = 'invalid' -- keep self.data: the last good snapshot stays on screen
    return false
  end
  if not self:trusted(data.token) then
    self.state, self.data = 'untrusted', nil -- someone else's file: show nothing of it
    return false
  end
  self.state, self.data = 'ok', data
  return true
end

--- Whether a snapshot's token is the daemon's (always, when there is no token file).
function Reader:trusted(token)
  if not self.token_file then
    return true
  end
  if self.token == nil or self.token ~= token then
    self.token = paths.read_token(self.token_file) -- created or replaced since the last read?
  end
  return self.token == nil or self.token == token
end

--- Re-read when the last read is at least read_interval old.
-- Returns read_happened, fresh_data_loaded.
function Reader:refresh(force)
  local now = self.now()
  if not force and self.last_read and now - self.last_read < self.read_interval and now >= self.last_read then
    return false, false
  end
  self.last_read = now
  return true, self:read()
end

--- The current snapshot: {state, data, age}.
function Reader:snapshot()
  local age
  if self.data then
    local ts = util.num(self.data.ts, nil)
    age = ts and math.max(0, self.now() - ts) or math.huge
  end
  return { state = self.state, data = self.data, age = age }
end

-- transitions ---------------------------------------------------------------------------------

local function toast_text(tr, data)
  local target = tostring(tr.target or '?')
  local reason = tr.reason and tostring(tr.reason) or nil
  local message
  if type(data.waiting) == 'table' then
    for _, w in ipairs(data.waiting) do
      if type(w) == 'table' and w.target == tr.target and w.message then
        message = tostring(w.message)
      end
    end
  end
  if tr.to == 'fatal' then
    return target .. ' failed' .. (reason and (': ' .. reason) or '')
  end
  return target .. ' is waiting' .. (message and (': ' .. message) or (reason and (': ' .. reason) or ''))
end

--- Toast each new transition of status.json once (last seq kept in wezterm.GLOBAL).
-- On the first sight of a daemon (pid) only transitions of the last 10 s are toasted, so
-- starting WezTerm does not replay old news. Returns the number of toasts shown.
function M.toast_transitions(wezterm, window, data, now)
  local trs = data.transitions
  if type(trs) ~= 'table' then
    return 0
  end
  local G = wezterm.GLOBAL
  local pid = type(data.daemon) == 'table' and util.num(data.daemon.pid, 0) or 0
  local last = G.wzp_last_seq
  local fresh = {}
  local max_seq = 0
  local seeding = (last == nil) or (G.wzp_seq_pid ~= pid)
  for _, tr in ipairs(trs) do
    local seq = type(tr) == 'table' and util.num(tr.seq, nil) or nil
    if seq and states.is_alert(tr.to) then
      if seq > max_seq then
        max_seq = seq
      end
      local new
      if seeding then
        new = util.num(tr.ts, 0) >= now - 10
      else
        new = seq > last
      end
      if new then
        fresh[#fresh + 1] = tr
      end
    end
  end
  if seeding then
    G.wzp_seq_pid = pid
    G.wzp_last_seq = max_seq
  elseif max_seq > last then
    G.wzp_last_seq = max_seq
  end
  table.sort(fresh, function(a, b)
    return a.seq < b.seq
  end)
  local shown = 0
  for i, tr in ipairs(fresh) do
    if i > M.MAX_TOASTS then
      window:toast_notification('wezterm-parallel', string.format('and %d more agents need you', #fresh - M.MAX_TOASTS), nil, 4000)
      shown = shown + 1
      break
    end
    window:toast_notification('wezterm-parallel', toast_text(tr, data), nil, 4000)
    shown = shown + 1
  end
  return shown
end

-- handler -------------------------------------------------------------------------------------

--- Build the update-status handler.
-- @param wezterm the wezterm module
-- @param reader a reader from M.reader()
-- @param opts {theme=table, notify=boolean, show_resources=boolean, on_error=function(err)}
-- @return handler(window, pane), and a function returning the current formatted string
function M.handler(wezterm, reader, opts)
  opts = opts or {}
  local theme = opts.theme or M.DEFAULT_THEME
  local formatted = nil
  local function current()
    if formatted == nil then
      formatted = wezterm.format(M.render_items(reader:snapshot(), theme, opts.show_resources))
    end
    return formatted
  end
  local function tick(window)
    local read_happened, fresh = reader:refresh()
    if read_happened then
      formatted = nil
      if fresh and opts.notify ~= false then
        M.toast_transitions(wezterm, window, reader.data, reader.now())
      end
    end
    window:set_right_status(current())
  end
  local function handler(window, _pane)
    local ok, err = pcall(tick, window)
    if not ok and opts.on_error then
      opts.on_error(err)
    end
  end
  return handler, current
end

return M
