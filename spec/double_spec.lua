-- The WezTerm double behaves as WezTerm 20240203-110809-5046fc22 does on each point the plugin
-- relies on (the source file of each rule is named in spec/support/wezterm_double.lua and in
-- docs/wezterm.md).

local H = require 'helpers'
local double = H.double

describe('the WezTerm double', function()
  local wezterm

  before_each(function()
    wezterm = H.fresh()
  end)

  describe('run_child_process', function()
    it('children inherit the GUI environment, WEZTERM_UNIX_SOCKET included', function()
      local ok, out = wezterm.run_child_process { '/bin/sh', '-c', 'printf %s "$WEZTERM_UNIX_SOCKET"' }
      assert.is_true(ok)
      assert.truthy(out:match('^/.+gui%-sock%-%d+$'), out)
      -- the config sees it too: the GUI set it in its own environment
      assert.are.equal(out, os.getenv('WEZTERM_UNIX_SOCKET'))
    end)

    it('raises when the program does not exist, on a path or on PATH', function()
      assert.has_error(function()
        wezterm.run_child_process { '/nonexistent/wzp', 'ping' }
      end)
      assert.has_error(function()
        wezterm.run_child_process { 'wzp-no-such-program-here' }
      end)
      assert.has_error(function()
        wezterm.background_child_process { '/nonexistent/wzp', 'up' }
      end)
      -- a program that runs and fails is a result, not an error
      local ok = wezterm.run_child_process { '/bin/sh', '-c', 'exit 3' }
      assert.is_false(ok)
    end)
  end)

  describe('GUI windows', function()
    it('perform_action requires its pane', function()
      local window = H.window('default')
      assert.has_error(function()
        window:perform_action(wezterm.action.SwitchToWorkspace { name = 'x' })
      end)
    end)

    it('overlay callbacks get the window active pane, not the pane passed in', function()
      local window, first = H.window('default')
      local _, second = window:mux_window():spawn_tab {}
      first:activate()
      local got
      window:perform_action(wezterm.action.PromptInputLine {
        description = 'x',
        action = wezterm.action_callback(function(_, pane)
          got = pane
        end),
      }, second)
      double.submit(window, 'line')
      assert.are.equal(first:pane_id(), got:pane_id())
    end)

    it('gui_window is nil for a window of a workspace the GUI does not show; focus raises', function()
      local _, _, shown = wezterm.mux.spawn_window { workspace = 'default' }
      local _, _, hidden = wezterm.mux.spawn_window { workspace = 'elsewhere' }
      assert.is_nil(hidden:gui_window())
      local gui = shown:gui_window()
      gui:focus()
      assert.are.equal(1, gui.focus_count)
    end)
  end)

  describe('pane:split', function()
    local function first_split(size)
      local _, pane = wezterm.mux.spawn_window { workspace = 'default' }
      local new = pane:split { direction = 'Right', size = size }
      return new:get_dimensions().cols, pane:get_dimensions().cols
    end

    it('size 0 is 50 %, below 1 is floor(size * 100) %, else cells', function()
      assert.are.same({ 40, 39 }, { first_split(0) })
      assert.are.same({ 40, 39 }, { first_split(nil) })
      -- 0.333 -> 33 %: 80 * 33 // 100 = 26 cells
      assert.are.same({ 26, 53 }, { first_split(0.333) })
      assert.are.same({ 10, 69 }, { first_split(10) })
    end)

    it('windows the GUI does not show are 80x24; width and height come together', function()
      local _, pane = wezterm.mux.spawn_window { workspace = 'hidden' }
      assert.are.same({ 80, 24 }, { pane:get_dimensions().cols, pane:get_dimensions().viewport_rows })
      local _, sized = wezterm.mux.spawn_window { workspace = 'hidden', width = 100, height = 30 }
      assert.are.same({ 100, 30 }, { sized:get_dimensions().cols, sized:get_dimensions().viewport_rows })
      local _, half = wezterm.mux.spawn_window { workspace = 'hidden', width = 100 }
      assert.are.equal(80, half:get_dimensions().cols)
    end)
  end)

  describe('wezterm.GLOBAL', function()
    it('coerces number keys of stored tables to strings and refuses non-string top keys', function()
      wezterm.GLOBAL.t = { [5] = 'five', x = 1 }
      assert.are.equal('five', wezterm.GLOBAL.t['5'])
      assert.is_nil(wezterm.GLOBAL.t[5])
      assert.has_error(function()
        wezterm.GLOBAL[1] = 'x'
      end)
      assert.has_error(function()
        wezterm.GLOBAL.mixed = { 1, 2, x = 3 }
      end)
      assert.has_error(function()
        wezterm.GLOBAL.f = { fn = print }
      end)
    end)

    it('copies a table seen twice twice and refuses a cycle', function()
      local shared = { n = 1 }
      wezterm.GLOBAL.pair = { a = shared, b = shared }
      assert.are.same({ a = { n = 1 }, b = { n = 1 } }, wezterm.GLOBAL.pair)
      local cyc = {}
      cyc.self = cyc
      assert.has_error(function()
        wezterm.GLOBAL.cyc = cyc
      end)
    end)

    it('hands back copies: changing what was read does not change the store', function()
      wezterm.GLOBAL.t = { a = 1 }
      local t = wezterm.GLOBAL.t
      t.a = 2
      assert.are.equal(1, wezterm.GLOBAL.t.a)
    end)
  end)

  describe('status events', function()
    it('update-right-status fires before update-status, at most one in flight per window', function()
      local window = H.window('default')
      local seen, depth = {}, 0
      wezterm.on('update-right-status', function()
        seen[#seen + 1] = 'right'
        depth = depth + 1
        if depth == 1 then
          -- ticks while the handler runs are queued once, not run inside it
          double.tick(window)
          double.tick(window)
          seen[#seen + 1] = 'right-end'
        end
      end)
      wezterm.on('update-status', function()
        seen[#seen + 1] = 'status'
      end)
      double.tick(window)
      assert.are.same({ 'right', 'right-end', 'status', 'right', 'status' }, seen)
    end)
  end)

  describe('wezterm.format', function()
    it('turns unknown colours white and appends a reset', function()
      local s = wezterm.format { { Foreground = { Color = 'no-such-colour' } }, { Text = 'x' } }
      assert.are.equal('\27[38:2::255:255:255mx\27[0m', s)
      assert.are.equal('\27[38:2::255:0:0my\27[0m',
        wezterm.format { { Foreground = { Color = '#f00' } }, { Text = 'y' } })
      assert.are.equal('\27[39mz\27[0m', wezterm.format { { Foreground = 'Default' }, { Text = 'z' } })
    end)
  end)
end)
