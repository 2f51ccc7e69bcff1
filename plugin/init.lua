--- Entry point for `wezterm.plugin.require '<url of this repository>'`.
--
-- WezTerm loads `<checkout>/plugin/init.lua` through `require` (its package.path has
-- `<data dir>/plugins/?/plugin/init.lua`), so Lua 5.4 passes this file's path as the second
-- chunk argument. From it we find the checkout, put its `lua/` dir on package.path and return
-- the `wezterm_parallel` module. WezTerm's Lua has no `debug` library; it is only a fallback
-- here (for plain lua). The last fallback asks wezterm.plugin.list() for our checkout.

local _, this_file = ...

local function dir_of_plugin_file(path)
  if type(path) ~= 'string' then
    return nil
  end
  path = path:gsub('^@', ''):gsub('\\', '/')
  return path:match('^(.*)/plugin/init%.lua$') or (path == 'plugin/init.lua' and '.' or nil)
end

local function exists(path)
  local f = io.open(path, 'rb')
  if f then
    f:close()
    return true
  end
  return false
end

local function find_root()
  local root = dir_of_plugin_file(this_file)
  if root then
    return root
  end
  -- luacheck: ignore 113 (debug is absent in WezTerm, present in plain lua)
  local dbg = rawget(_G, 'debug')
  if dbg and dbg.getinfo then
    local info = dbg.getinfo(1, 'S')
    root = info and dir_of_plugin_file(info.source)
    if root then
      return root
    end
  end
  local ok, wezterm = pcall(require, 'wezterm')
  if ok and wezterm.plugin and wezterm.plugin.list then
    local ok_list, list = pcall(wezterm.plugin.list)
    for _, p in ipairs(ok_list and list or {}) do
      if p.plugin_dir and exists(p.plugin_dir .. '/lua/wezterm_parallel/init.lua') then
        return p.plugin_dir
      end
    end
  end
  return nil
end

local root = find_root()
if root then
  local lua_dir = root .. '/lua'
  local entries = lua_dir .. '/?.lua;' .. lua_dir .. '/?/init.lua'
  if not package.path:find(entries, 1, true) then
    package.path = entries .. ';' .. package.path
  end
end

return require 'wezterm_parallel'
