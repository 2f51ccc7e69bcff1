--- Where the plugin finds status.json: the same rule as wzp_supervisor/paths.py.
--
-- `$XDG_RUNTIME_DIR/wezterm-parallel/status.json` when XDG_RUNTIME_DIR is an absolute path,
-- else `<tmpdir>/wezterm-parallel-<uid>/status.json` with tmpdir picked like Python's
-- tempfile.gettempdir() (TMPDIR, TEMP, TMP, then /tmp).

local M = {}

local APP = 'wezterm-parallel'

local function is_abs(p)
  return type(p) == 'string' and p:sub(1, 1) == '/'
end

--- The runtime dir of wezterm-parallel.
-- @param getenv function(name) -> value (os.getenv in WezTerm)
-- @param uid_fn function() -> uid string, called only when XDG_RUNTIME_DIR is not usable
function M.runtime_dir(getenv, uid_fn)
  local xdg = getenv('XDG_RUNTIME_DIR')
  if is_abs(xdg) then
    return (xdg:gsub('/+$', '')) .. '/' .. APP
  end
  local tmp
  for _, var in ipairs { 'TMPDIR', 'TEMP', 'TMP' } do
    local v = getenv(var)
    if v and v ~= '' then
      tmp = v
      break
    end
  end
  tmp = (tmp or '/tmp'):gsub('/+$', '')
  if tmp == '' then
    tmp = '/'
  end
  local uid = uid_fn and uid_fn() or nil
  return tmp .. '/' .. APP .. '-' .. tostring(uid or 'unknown')
end

--- The status.json path.
function M.status_file(getenv, uid_fn)
  return M.runtime_dir(getenv, uid_fn) .. '/status.json'
end

--- The ui file the daemon writes beside status.json (wzp_supervisor/ui_file.py).
function M.ui_file(getenv, uid_fn)
  return M.runtime_dir(getenv, uid_fn) .. '/ui.json'
end

--- The per-user token file the daemon keeps in the state dir (wzp_supervisor/plugin_token.py):
--- status.json and ui.json must carry the same token, else they are not the daemon's.
function M.token_file(getenv)
  local state = getenv('XDG_STATE_HOME')
  if not is_abs(state) then
    local home = getenv('HOME')
    if not is_abs(home) then
      return nil
    end
    state = (home:gsub('/+$', '')) .. '/.local/state'
  end
  return (state:gsub('/+$', '')) .. '/' .. APP .. '/plugin.token'
end

--- The token in `path` (nil when there is no such file: no daemon ever ran for this user).
function M.read_token(path, open)
  local f = path and (open or io.open)(path, 'rb')
  if not f then
    return nil
  end
  local text = f:read('a') or ''
  f:close()
  return text:match('^%s*(%x+)%s*$')
end

--- The uid without starting a process: $UID, else the real uid in /proc/self/status (Linux).
--- nil elsewhere (macOS): the caller falls back to a value found outside config evaluation.
function M.uid_without_process(getenv, open)
  local env = getenv('UID')
  if env and env:match('^%d+$') then
    return env
  end
  local f = (open or io.open)('/proc/self/status', 'r')
  if not f then
    return nil
  end
  local text = f:read('a') or ''
  f:close()
  return text:match('\nUid:%s*(%d+)')
end

return M
