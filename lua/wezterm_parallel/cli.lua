--- Running the `wzp` command from actions (never from the status handler).

local util = require 'wezterm_parallel.util'

local M = {}

--- The wzp argv prefix from opts.wzp: a command name/path string or an argv table.
function M.argv_prefix(wzp)
  if type(wzp) == 'table' and #wzp > 0 then
    return util.copy_array(wzp)
  end
  if type(wzp) == 'string' and wzp ~= '' then
    return { wzp }
  end
  return { 'wzp' }
end

local Runner = {}
Runner.__index = Runner

--- A runner bound to the wezterm module and a wzp argv prefix.
function M.runner(wezterm, wzp)
  return setmetatable({ wezterm = wezterm, prefix = M.argv_prefix(wzp) }, Runner)
end

--- The full argv for `wzp ARGS...`.
function Runner:argv(args)
  return util.concat(self.prefix, args)
end

--- Run `wzp ARGS...` and wait. Returns ok, stdout, stderr (stderr has a message on failure).
function Runner:run(args)
  local argv = self:argv(args)
  local ok, success, stdout, stderr = pcall(self.wezterm.run_child_process, argv)
  if not ok then
    -- spawning failed (wzp not found, ...): wezterm raises
    return false, '', 'cannot run ' .. tostring(argv[1]) .. ': ' .. tostring(success)
  end
  stdout, stderr = stdout or '', stderr or ''
  if not success and util.trim(stderr) == '' then
    stderr = table.concat(argv, ' ') .. ' failed'
  end
  return success, stdout, stderr
end

--- Run `wzp ARGS...` and parse its stdout as JSON. Returns value or nil, error message.
function Runner:json(args)
  local ok, stdout, stderr = self:run(args)
  if not ok then
    return nil, util.first_line(stderr) or 'wzp failed'
  end
  local parsed_ok, value = pcall(self.wezterm.json_parse, stdout)
  if not parsed_ok or type(value) ~= 'table' then
    return nil, 'wzp ' .. table.concat(args, ' ') .. ': output is not JSON'
  end
  return value
end

--- Start `wzp ARGS...` in the background, not waiting for it.
function Runner:background(args)
  return pcall(self.wezterm.background_child_process, self:argv(args))
end

--- Replace a leading "wzp" of a pane command by the configured wzp argv (the GUI's PATH may
--- not have wzp on it when opts.wzp is an absolute path).
function Runner:pane_command(cmd)
  if type(cmd) ~= 'table' or #cmd == 0 then
    return nil
  end
  if cmd[1] == 'wzp' then
    local rest = {}
    for i = 2, #cmd do
      rest[#rest + 1] = cmd[i]
    end
    return self:argv(rest)
  end
  return util.copy_array(cmd)
end

return M
