--- Laying out a `wzp layout NAME --json` plan with wezterm.mux, and finding agent panes again.
--
-- Plan shape (docs/contracts.md "Layout plan"): {workspace, cwd, panes = {{pane, split_from,
-- direction, size, command, target, supervised}, ...}}; the first pane is the one the window
-- is spawned with, each following one splits the pane named by split_from.

local M = {}

local DIRECTIONS = { Right = true, Left = true, Top = true, Bottom = true }

--- The wezterm.GLOBAL key remembering the pane id attached to a target.
function M.global_key(target)
  return 'wzp_pane:' .. tostring(target)
end

--- Check a plan; returns true or nil, message.
function M.validate(plan)
  if type(plan) ~= 'table' or type(plan.panes) ~= 'table' or #plan.panes == 0 then
    return nil, 'layout plan has no panes'
  end
  if type(plan.workspace) ~= 'string' or plan.workspace == '' then
    return nil, 'layout plan has no workspace name'
  end
  local names = {}
  for i, p in ipairs(plan.panes) do
    if type(p) ~= 'table' or type(p.pane) ~= 'string' then
      return nil, 'layout plan pane ' .. i .. ' has no name'
    end
    if i > 1 then
      if not names[p.split_from] then
        return nil, 'pane ' .. p.pane .. ' splits unknown pane ' .. tostring(p.split_from)
      end
      if p.direction ~= nil and not DIRECTIONS[p.direction] then
        return nil, 'pane ' .. p.pane .. ' has bad direction ' .. tostring(p.direction)
      end
    end
    names[p.pane] = true
  end
  return true
end

--- Lay out a plan in a new window of workspace plan.workspace.
-- @param wezterm the wezterm module
-- @param plan the decoded plan
-- @param command_of function(plan_pane) -> argv or nil (nil: the default program)
-- @return {window=MuxWindow, tab=MuxTab, panes={name -> Pane}, targets={target -> pane id}}
--   or nil, message
function M.apply(wezterm, plan, command_of)
  local ok, err = M.validate(plan)
  if not ok then
    return nil, err
  end
  local first = plan.panes[1]
  local tab, pane, window = wezterm.mux.spawn_window {
    workspace = plan.workspace,
    cwd = first.cwd or plan.cwd,
    args = command_of(first),
  }
  local by_name = { [first.pane] = pane }
  local targets = {}
  if first.target then
    targets[first.target] = pane:pane_id()
  end
  for i = 2, #plan.panes do
    local p = plan.panes[i]
    local new = by_name[p.split_from]:split {
      direction = p.direction or 'Right',
      size = tonumber(p.size) or 0.5,
      cwd = p.cwd or plan.cwd,
      args = command_of(p),
    }
    by_name[p.pane] = new
    if p.target then
      targets[p.target] = new:pane_id()
    end
  end
  for target, id in pairs(targets) do
    wezterm.GLOBAL[M.global_key(target)] = id
  end
  pane:activate()
  return { window = window, tab = tab, panes = by_name, targets = targets }
end

--- The target a pane says it shows: the wzp_target user var `wzp attach` sets with OSC 1337
--- SetUserVar (WezTerm decodes the base64), in any domain. nil when it has none.
function M.pane_target(p)
  local ok, vars = pcall(p.get_user_vars, p)
  if ok and type(vars) == 'table' and type(vars.wzp_target) == 'string' and vars.wzp_target ~= '' then
    return vars.wzp_target
  end
  return nil
end

-- fallback for panes that have not set the user var (an older wzp): `... attach TARGET` in
-- the foreground argv (local domain only) or the title
local function argv_matches(p, target)
  local ok_info, info = pcall(p.get_foreground_process_info, p)
  if ok_info and type(info) == 'table' and type(info.argv) == 'table' then
    local argv = info.argv
    for i = 1, #argv - 1 do
      if argv[i] == 'attach' and argv[i + 1] == target then
        return true
      end
    end
  end
  local ok_title, title = pcall(p.get_title, p)
  return ok_title and type(title) == 'string' and title:find('wzp attach ' .. target, 1, true) ~= nil
end

local function each_pane(wezterm, fn)
  for _, w in ipairs(wezterm.mux.all_windows()) do
    for _, tab in ipairs(w:tabs()) do
      for _, p in ipairs(tab:panes()) do
        if fn(p, w) then
          return p, w
        end
      end
    end
  end
  return nil
end

--- Find the pane attached to target: by its wzp_target user var first (any domain), then the
--- pane id remembered in wezterm.GLOBAL when it still exists and shows no other target, then
--- argv / title guessing.
-- @return pane, mux_window or nil
function M.find_pane(wezterm, target)
  local p, w = each_pane(wezterm, function(pane)
    return M.pane_target(pane) == target
  end)
  if p then
    wezterm.GLOBAL[M.global_key(target)] = p:pane_id()
    return p, w
  end
  local remembered = wezterm.GLOBAL[M.global_key(target)]
  if remembered then
    p, w = each_pane(wezterm, function(pane)
      return pane:pane_id() == remembered and M.pane_target(pane) == nil
    end)
    if p then
      return p, w
    end
  end
  p, w = each_pane(wezterm, function(pane)
    return M.pane_target(pane) == nil and argv_matches(pane, target)
  end)
  if p then
    wezterm.GLOBAL[M.global_key(target)] = p:pane_id()
    return p, w
  end
  return nil
end

--- A pane showing an agent of workspace `ws` (by user var), and its window, or nil.
function M.find_workspace_pane(wezterm, ws)
  local prefix = ws .. '/'
  return each_pane(wezterm, function(pane)
    local t = M.pane_target(pane)
    return t ~= nil and t:sub(1, #prefix) == prefix
  end)
end

--- Bring pane `p` of mux window `w` to the front: switch the GUI to its workspace, activate
--- it in its tab and window, and raise its GUI window when that is another one.
-- @param window the GUI window the action runs in; pane its pane
function M.show_pane(wezterm, window, pane, p, w)
  local ws = w:get_workspace()
  if ws ~= wezterm.mux.get_active_workspace() then
    window:perform_action(wezterm.action.SwitchToWorkspace { name = ws }, pane)
  end
  p:activate()
  local ok, gui = pcall(w.gui_window, w)
  if ok and gui and gui:window_id() ~= window:window_id() then
    gui:focus()
  end
  return p
end

--- Whether WezTerm already has a window in workspace `name`.
function M.workspace_exists(wezterm, name)
  for _, w in ipairs(wezterm.mux.all_windows()) do
    if w:get_workspace() == name then
      return true
    end
  end
  return false
end

return M
