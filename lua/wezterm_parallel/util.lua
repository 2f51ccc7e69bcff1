--- Small helpers shared by the wezterm-parallel plugin modules (no WezTerm API here).

local M = {}

--- A new table with the keys of `base` overridden by those of `over` (one level deep for
--- nested tables, so `{theme = {busy = ...}}` overrides one colour and keeps the others).
function M.merge(base, over)
  local out = {}
  for k, v in pairs(base or {}) do
    out[k] = v
  end
  for k, v in pairs(over or {}) do
    if type(v) == 'table' and type(out[k]) == 'table' then
      out[k] = M.merge(out[k], v)
    else
      out[k] = v
    end
  end
  return out
end

--- A copy of an array.
function M.copy_array(t)
  local out = {}
  for i, v in ipairs(t or {}) do
    out[i] = v
  end
  return out
end

--- Concatenation of arrays.
function M.concat(...)
  local out = {}
  for i = 1, select('#', ...) do
    for _, v in ipairs((select(i, ...)) or {}) do
      out[#out + 1] = v
    end
  end
  return out
end

--- `s` quoted for a POSIX shell.
function M.shell_quote(s)
  s = tostring(s)
  if s ~= '' and s:match('^[%w%._/%-=:,@+]+$') then
    return s
  end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- An argv joined into a shell command line.
function M.shell_join(argv)
  local q = {}
  for i, a in ipairs(argv) do
    q[i] = M.shell_quote(a)
  end
  return table.concat(q, ' ')
end

--- `s` without leading and trailing white space ('' for nil).
function M.trim(s)
  return ((s or ''):gsub('^%s+', ''):gsub('%s+$', ''))
end

--- The first non-empty line of `s`, trimmed, or nil.
function M.first_line(s)
  for line in tostring(s or ''):gmatch('[^\r\n]+') do
    local t = M.trim(line)
    if t ~= '' then
      return t
    end
  end
  return nil
end

--- A byte count as a short human string: 512B, 12K, 340M, 2.1G.
function M.format_bytes(n)
  n = tonumber(n) or 0
  if n < 1024 then
    return string.format('%dB', math.floor(n))
  end
  local units = { 'K', 'M', 'G', 'T' }
  local v, u = n / 1024, 1
  while v >= 1024 and u < #units do
    v, u = v / 1024, u + 1
  end
  if v < 10 then
    return string.format('%.1f%s', v, units[u])
  end
  return string.format('%d%s', math.floor(v + 0.5), units[u])
end

--- A number from a JSON field, or `default` when it is missing or not a finite number.
function M.num(v, default)
  v = tonumber(v)
  if v == nil or v ~= v or v == math.huge or v == -math.huge then
    return default
  end
  return v
end

--- Whether `name` is a valid wzp name: [a-z0-9][a-z0-9_-]{0,62}.
function M.valid_name(name)
  return type(name) == 'string' and #name <= 63 and name:match('^[a-z0-9][a-z0-9_%-]*$') ~= nil
end

--- `path` with a leading `~` expanded against `home`.
function M.expand_home(path, home)
  if path == '~' then
    return home
  end
  if path:sub(1, 2) == '~/' and home then
    return home .. path:sub(2)
  end
  return path
end

return M
