--- The plugin's WezTerm actions: create/switch workspace, dashboard, kill, jump to waiting,
--- answer the waiting agent.
--
-- Each action is a wezterm.action_callback; `wzp` runs through wezterm.run_child_process here,
-- on a key press, never in the status handler.

local layout = require 'wezterm_parallel.layout'
local status = require 'wezterm_parallel.status'
local util = require 'wezterm_parallel.util'

local M = {}

local TITLE = 'wezterm-parallel'

local function notify(ctx, window, message)
  ctx.wezterm.log_info('wezterm-parallel: ' .. message)
  if window and window.toast_notification then
    window:toast_notification(TITLE, message, nil, 4000)
  end
end

--- The directory of a pane (Url object in 20240203, a file:// string before), or nil.
local function pane_dir(pane)
  if not pane or not pane.get_current_working_dir then
    return nil
  end
  local ok, cwd = pcall(pane.get_current_working_dir, pane)
  if not ok or cwd == nil then
    return nil
  end
  if type(cwd) == 'string' then
    local path = cwd:match('^file://[^/]*(/.*)$') or cwd
    return (path:gsub('%%(%x%x)', function(h)
      return string.char(tonumber(h, 16))
    end))
  end
  local ok_path, path = pcall(function()
    return cwd.file_path
  end)
  return ok_path and path or nil
end

--- Counts like the status bar, for labels: "⚡1 ●2 ○0 ✖0".
function M.counts_label(totals)
  if type(totals) ~= 'table' then
    return ''
  end
  local c = status.summary { totals = totals }
  return string.format('⚡%d ●%d ○%d ✖%d', c.waiting, c.busy, c.idle, c.error)
end

--- Lay out wzp workspace `name` in a new WezTerm window and switch to it.
function M.open_workspace(ctx, window, pane, name)
  local wezterm = ctx.wezterm
  local plan, err = ctx.runner:json { 'layout', name, '--json' }
  if not plan then
    return notify(ctx, window, 'layout of ' .. name .. ' failed: ' .. err)
  end
  local result, lerr = layout.apply(wezterm, plan, function(p)
    return ctx.runner:pane_command(p.command)
  end)
  if not result then
    return notify(ctx, window, 'cannot lay out ' .. name .. ': ' .. lerr)
  end
  window:perform_action(wezterm.action.SwitchToWorkspace { name = plan.workspace }, pane)
  return result
end

--- `wzp workspace create --no-layout` (WezTerm's own environment reaches wzp, so without it
--- wzp would lay the workspace out a second time with `wezterm cli`), then lay it out here and
--- switch to it.
function M.create(ctx, window, pane, name, template, dir)
  local args = { 'workspace', 'create', name, '--template', template }
  if dir and dir ~= '' then
    args[#args + 1] = '--dir'
    args[#args + 1] = dir
  end
  args[#args + 1] = '--no-layout'
  local ok, _, stderr = ctx.runner:run(args)
  if not ok then
    return notify(ctx, window, 'workspace create failed: ' .. (util.first_line(stderr) or '?'))
  end
  return M.open_workspace(ctx, window, pane, name)
end

local function template_choices(cfg)
  local templates = type(cfg) == 'table' and type(cfg.workspaces) == 'table' and cfg.workspaces.templates
  local choices = {}
  if type(templates) ~= 'table' then
    return choices
  end
  local names = {}
  for name in pairs(templates) do
    names[#names + 1] = name
  end
  table.sort(names)
  for _, name in ipairs(names) do
    local t = templates[name]
    local label = name
    if type(t) == 'table' then
      if t.layout then
        label = label .. '  (' .. tostring(t.layout) .. ')'
      end
      if type(t.description) == 'string' and t.description ~= '' then
        label = label .. '  ' .. t.description
      end
    end
    choices[#choices + 1] = { id = name, label = label }
  end
  return choices
end

local function build_create(ctx)
  local wezterm = ctx.wezterm
  local act = wezterm.action
  return wezterm.action_callback(function(window, pane)
    -- the templates of the ui file the daemon writes; `wzp config show` only without one
    local cfg
    if type(ctx.ui) == 'table' and type(ctx.ui.templates) == 'table' and next(ctx.ui.templates) then
      cfg = { workspaces = { templates = ctx.ui.templates } }
    else
      local err
      cfg, err = ctx.runner:json(ctx.config_show_args(true))
      if not cfg and ctx.opts and ctx.opts.config_path then
        cfg, err = ctx.runner:json(ctx.config_show_args(false))
      end
      if not cfg then
        return notify(ctx, window, 'cannot read templates: ' .. err)
      end
    end
    local choices = template_choices(cfg)
    if #choices == 0 then
      return notify(ctx, window, 'no workspace templates in the wzp config')
    end
    window:perform_action(act.InputSelector {
      title = 'wezterm-parallel: template for the new workspace',
      choices = choices,
      action = wezterm.action_callback(function(win, p, template)
        if not template then
          return
        end
        win:perform_action(act.PromptInputLine {
          description = 'Workspace name for template ' .. template .. ' (a-z, 0-9, _ and -)',
          action = wezterm.action_callback(function(win2, p2, line)
            if line == nil then
              return
            end
            local name = util.trim(line)
            if not util.valid_name(name) then
              return notify(ctx, win2, 'bad workspace name "' .. name .. '": use [a-z0-9][a-z0-9_-]{0,62}')
            end
            local default_dir = pane_dir(p2) or wezterm.home_dir
            win2:perform_action(act.PromptInputLine {
              description = 'Directory for ' .. name .. ' (empty: ' .. tostring(default_dir) .. ')',
              action = wezterm.action_callback(function(win3, p3, dir_line)
                if dir_line == nil then
                  return
                end
                local dir = util.expand_home(util.trim(dir_line), wezterm.home_dir)
                if dir == '' then
                  dir = default_dir
                end
                M.create(ctx, win3, p3, name, template, dir)
              end),
            }, p2)
          end),
        }, p)
      end),
    }, pane)
  end)
end

local function build_switch(ctx)
  local wezterm = ctx.wezterm
  local act = wezterm.action
  return wezterm.action_callback(function(window, pane)
    local res, err = ctx.runner:json { 'workspace', 'list', '--json' }
    if not res then
      return notify(ctx, window, 'cannot list workspaces: ' .. err)
    end
    local choices = {}
    for _, ws in ipairs(type(res.workspaces) == 'table' and res.workspaces or {}) do
      if type(ws) == 'table' and ws.name then
        local label = tostring(ws.name) .. '  ' .. M.counts_label(ws.totals)
        if ws.template then
          label = label .. '  ' .. tostring(ws.template)
        end
        if ws.dir then
          label = label .. '  ' .. tostring(ws.dir)
        end
        choices[#choices + 1] = { id = tostring(ws.name), label = label }
      end
    end
    if #choices == 0 then
      return notify(ctx, window, 'no wzp workspaces yet')
    end
    window:perform_action(act.InputSelector {
      title = 'wezterm-parallel: switch workspace',
      choices = choices,
      fuzzy = true,
      action = wezterm.action_callback(function(win, p, name)
        if not name then
          return
        end
        -- a pane that shows one of its agents (user var, any domain or workspace), else a
        -- window of that workspace, else lay it out
        local found, fw = layout.find_workspace_pane(wezterm, name)
        if found then
          layout.show_pane(wezterm, win, p, found, fw)
        elseif layout.workspace_exists(wezterm, name) then
          win:perform_action(act.SwitchToWorkspace { name = name }, p)
        else
          M.open_workspace(ctx, win, p, name)
        end
      end),
    }, pane)
  end)
end

local function build_dashboard(ctx)
  local wezterm = ctx.wezterm
  return wezterm.action_callback(function(window, pane)
    window:perform_action(wezterm.action.SpawnCommandInNewTab { args = ctx.runner:argv { 'dashboard' } }, pane)
  end)
end

local function build_kill(ctx)
  local wezterm = ctx.wezterm
  local act = wezterm.action
  return wezterm.action_callback(function(window, pane)
    local res, err = ctx.runner:json { 'list', '--json' }
    if not res then
      return notify(ctx, window, 'cannot list processes: ' .. err)
    end
    local choices, workspaces = {}, {}
    for _, p in ipairs(type(res.processes) == 'table' and res.processes or {}) do
      if type(p) == 'table' and p.target then
        local label = tostring(p.target) .. '  [' .. tostring(p.state or '?') .. ']'
        if p.pid then
          label = label .. '  pid ' .. tostring(p.pid)
        end
        choices[#choices + 1] = { id = tostring(p.target), label = label }
        if p.workspace and not workspaces[p.workspace] then
          workspaces[p.workspace] = true
          workspaces[#workspaces + 1] = tostring(p.workspace)
        end
      end
    end
    for _, ws in ipairs(workspaces) do
      choices[#choices + 1] = { id = ws, label = ws .. '  (every process of the workspace)' }
    end
    -- the agent the current pane shows (its wzp_target user var) comes first
    local here = layout.pane_target(pane)
    for i, c in ipairs(choices) do
      if here and c.id == here and i > 1 then
        table.remove(choices, i)
        table.insert(choices, 1, c)
        break
      end
    end
    if here and choices[1] and choices[1].id == here then
      choices[1].label = choices[1].label .. '  (this pane)'
    end
    if #choices == 0 then
      return notify(ctx, window, 'no supervised processes')
    end
    window:perform_action(act.InputSelector {
      title = 'wezterm-parallel: kill which process?',
      choices = choices,
      fuzzy = true,
      action = wezterm.action_callback(function(win, p, target)
        if not target then
          return
        end
        win:perform_action(act.InputSelector {
          title = 'Kill ' .. target .. '?',
          choices = { { id = 'no', label = 'No, keep it running' }, { id = 'yes', label = 'Yes, kill ' .. target } },
          action = wezterm.action_callback(function(win2, _, answer)
            if answer ~= 'yes' then
              return
            end
            local ok, _, stderr = ctx.runner:run { 'kill', target }
            if ok then
              notify(ctx, win2, 'killed ' .. target)
            else
              notify(ctx, win2, 'kill ' .. target .. ' failed: ' .. (util.first_line(stderr) or '?'))
            end
          end),
        }, p)
      end),
    }, pane)
  end)
end

--- The agent that has waited longest (status.json `waiting`, oldest first), or nil and the
--- message to show.
local function longest_waiting(ctx)
  local reader = ctx.get_reader()
  reader:refresh(true)
  if reader.state == 'missing' then
    return nil, 'wzp is not running'
  end
  local data = reader.data
  local first = data and type(data.waiting) == 'table' and data.waiting[1]
  if type(first) ~= 'table' or not first.target then
    return nil, 'no agent is waiting'
  end
  return first
end


local function build_jump(ctx)
  local wezterm = ctx.wezterm
  local act = wezterm.action
  return wezterm.action_callback(function(window, pane)
    local first, why = longest_waiting(ctx)
    if not first then
      return notify(ctx, window, why)
    end
    local target = tostring(first.target)
    local p, w = layout.find_pane(wezterm, target)
    if p then
      return layout.show_pane(wezterm, window, pane, p, w)
    end
    -- no pane shows it yet: attach in a new tab of this window
    window:perform_action(act.SpawnCommandInNewTab { args = ctx.runner:argv { 'attach', target } }, pane)
    return nil
  end)
end

-- control characters of a message shown in an overlay become spaces
local function plain_text(s)
  return (tostring(s):gsub('%c', ' '))
end

local ANSWERS = {
  { id = 'yes', label = 'yes' },
  { id = 'no', label = 'no' },
  { id = 'always', label = 'always (yes, and do not ask again)' },
}

local function build_answer(ctx)
  local wezterm = ctx.wezterm
  local act = wezterm.action
  return wezterm.action_callback(function(window, pane)
    local first, why = longest_waiting(ctx)
    if not first then
      return notify(ctx, window, why)
    end
    local target = tostring(first.target)
    local about = target
    if type(first.message) == 'string' and first.message ~= '' then
      about = about .. ': ' .. plain_text(first.message)
    end
    local choices = {}
    for _, a in ipairs(ANSWERS) do
      choices[#choices + 1] = { id = a.id, label = a.label .. '  ' .. about }
    end
    window:perform_action(act.InputSelector {
      title = 'wezterm-parallel: answer ' .. target,
      choices = choices,
      action = wezterm.action_callback(function(win, _, choice)
        if not choice then
          return
        end
        local ok, stdout, stderr = ctx.runner:run { 'answer', target, choice }
        if ok then
          local said = util.first_line(stdout)
          notify(ctx, win, 'answered ' .. choice .. ' to ' .. target .. (said and (' (' .. plain_text(said) .. ')') or ''))
        else
          notify(ctx, win, 'answer ' .. choice .. ' to ' .. target .. ' failed: '
            .. plain_text(util.first_line(stderr) or '?'))
        end
      end),
    }, pane)
  end)
end

--- Build the actions table over a plugin context.
-- ctx: {wezterm, runner (read at call time), config_show_args(), get_reader()}
function M.build(ctx)
  return {
    create_workspace = build_create(ctx),
    switch_workspace = build_switch(ctx),
    show_dashboard = build_dashboard(ctx),
    kill_process = build_kill(ctx),
    jump_to_waiting = build_jump(ctx),
    answer_waiting = build_answer(ctx),
  }
end

return M
