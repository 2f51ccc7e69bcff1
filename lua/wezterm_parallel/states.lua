--- The state vocabulary of wezterm-parallel, for the plugin.
--
-- This table mirrors wzp_supervisor/states.py (SHOWN_STATES, FOLDED, GROUPS, ALERT_STATES)
-- and must change with it; a test compares the two. Nothing else in the plugin names a state.

local M = {}

--- Every shown state, in display order (the keys of status.json `totals`).
M.SHOWN_STATES = {
  'starting',
  'busy',
  'waiting_input',
  'idle',
  'running',
  'exited',
  'backoff',
  'fatal',
  'stopped',
}

--- Shown states counted under another key.
M.FOLDED = { stopping = 'stopped', stalled = 'waiting_input', error = 'waiting_input' }

--- Which shown states answer "needs me now", "working", "idle" and "down".
M.GROUPS = {
  attention = { 'waiting_input', 'stalled', 'error' },
  working = { 'busy', 'starting', 'running' },
  idle = { 'idle' },
  down = { 'fatal', 'backoff', 'exited', 'stopped', 'stopping' },
}

--- The order groups are shown in.
M.GROUP_ORDER = { 'attention', 'working', 'idle', 'down' }

--- States whose arrival is recorded as a transition (toasts).
M.ALERT_STATES = { 'waiting_input', 'stalled', 'error', 'fatal' }

local group_of = {}
for group, members in pairs(M.GROUPS) do
  for _, state in ipairs(members) do
    group_of[state] = group
  end
end

--- The group (attention, working, idle, down) of a shown state; unknown states are down.
function M.group_of(state)
  return group_of[state] or 'down'
end

--- Whether a transition into `state` is toasted.
function M.is_alert(state)
  for _, s in ipairs(M.ALERT_STATES) do
    if s == state then
      return true
    end
  end
  return false
end

return M
