-- Layout plans -> WezTerm split trees and pane commands.

local H = require 'helpers'
local double = H.double

describe('layout', function()
  local wezterm, layout, runner

  before_each(function()
    wezterm = H.fresh()
    layout = require 'wezterm_parallel.layout'
    runner = require('wezterm_parallel.cli').runner(wezterm, '/opt/wzp/bin/wzp')
  end)

  local function apply(plan)
    return assert(layout.apply(wezterm, plan, function(p)
      return runner:pane_command(p.command)
    end))
  end

  it('lays out three_pane_horizontal: left | top_right / bottom_right', function()
    local r = apply(H.plan('three_pane_horizontal', 'demo', '/work/demo'))
    local spawn = double.calls_of('mux.spawn_window')
    assert.are.equal(1, #spawn)
    assert.are.equal('demo', spawn[1].spec.workspace)
    assert.are.equal('/work/demo', spawn[1].spec.cwd)
    assert.are.same({ '/opt/wzp/bin/wzp', 'attach', 'demo/agent-1' }, spawn[1].spec.args)

    local tree = double.tree(r.tab)
    assert.are.equal('Right', tree.direction)
    local left, right = tree.children[1], tree.children[2]
    assert.are.same({ '/opt/wzp/bin/wzp', 'attach', 'demo/agent-1' }, left.args)
    assert.are.same({ left = 0, top = 0, width = 39, height = 24 }, left.rect)
    assert.are.equal('Bottom', right.direction)
    local top_right, bottom_right = right.children[1], right.children[2]
    assert.are.same({ '/opt/wzp/bin/wzp', 'attach', 'demo/agent-2' }, top_right.args)
    assert.are.same({ left = 40, top = 0, width = 40, height = 11 }, top_right.rect)
    assert.are.same({ 'htop' }, bottom_right.args)
    assert.are.same({ left = 40, top = 12, width = 40, height = 12 }, bottom_right.rect)
    for _, leaf in ipairs { left, top_right, bottom_right } do
      assert.are.equal('/work/demo', leaf.cwd)
    end

    local splits = double.calls_of('split')
    assert.are.equal(2, #splits)
    assert.are.equal(0.5, splits[1].spec.size)
    assert.are.equal(r.panes['agent-1']:pane_id(), splits[1].from)
    assert.are.equal(r.panes['agent-2']:pane_id(), splits[2].from)
  end)

  it('lays out four_pane_grid as four quadrants', function()
    local r = apply(H.plan('four_pane_grid', 'web', '/srv/web'))
    local tree = double.tree(r.tab)
    assert.are.equal('Right', tree.direction)
    local l, rt = tree.children[1], tree.children[2]
    assert.are.equal('Bottom', l.direction)
    assert.are.equal('Bottom', rt.direction)
    local tl, bl, tr, br = l.children[1], l.children[2], rt.children[1], rt.children[2]
    assert.are.same({ '/opt/wzp/bin/wzp', 'attach', 'web/agent-1' }, tl.args)
    assert.are.same({ '/opt/wzp/bin/wzp', 'attach', 'web/dev-server' }, bl.args)
    assert.are.same({ '/opt/wzp/bin/wzp', 'attach', 'web/agent-2' }, tr.args)
    assert.are.same({ 'tail', '-F', 'log/development.log' }, br.args)
    assert.are.same({ left = 0, top = 0, width = 39, height = 11 }, tl.rect)
    assert.are.same({ left = 0, top = 12, width = 39, height = 12 }, bl.rect)
    assert.are.same({ left = 40, top = 0, width = 40, height = 11 }, tr.rect)
    assert.are.same({ left = 40, top = 12, width = 40, height = 12 }, br.rect)
    -- the four rects tile the window: no overlap, dividers of one cell
    local area = 0
    for _, leaf in ipairs { tl, bl, tr, br } do
      area = area + leaf.rect.width * leaf.rect.height
    end
    -- an 80x24 window (a hidden workspace's size) minus the vertical divider (1 x 24) and the
    -- two horizontal ones (39 + 40 cells)
    assert.are.equal(80 * 24 - 24 - (39 + 40), area)
  end)

  it('remembers the pane of each target in wezterm.GLOBAL and finds it again', function()
    local r = apply(H.plan('three_pane_horizontal'))
    local id = r.panes['agent-2']:pane_id()
    assert.are.equal(id, wezterm.GLOBAL[layout.global_key('demo/agent-2')])
    assert.are.equal(nil, wezterm.GLOBAL[layout.global_key('demo/monitor')])
    local p, w = layout.find_pane(wezterm, 'demo/agent-2')
    assert.are.equal(id, p:pane_id())
    assert.are.equal('demo', w:get_workspace())
  end)

  it('finds a pane by its foreground `wzp attach` argv or a wzp_target user var', function()
    local _, pane = wezterm.mux.spawn_window { workspace = 'x', args = { 'wzp', 'attach', 'x/a' } }
    local p = layout.find_pane(wezterm, 'x/a')
    assert.are.equal(pane:pane_id(), p:pane_id())
    assert.are.equal(pane:pane_id(), wezterm.GLOBAL[layout.global_key('x/a')])
    local _, other = wezterm.mux.spawn_window { workspace = 'y' }
    other._user_vars.wzp_target = 'y/b'
    assert.are.equal(other:pane_id(), layout.find_pane(wezterm, 'y/b'):pane_id())
    assert.is_nil(layout.find_pane(wezterm, 'z/c'))
  end)

  it('rejects plans it cannot lay out', function()
    for _, bad in ipairs {
      {},
      { workspace = 'a', panes = {} },
      { workspace = 'a', panes = { { pane = 'p' }, { pane = 'q', split_from = 'nope', direction = 'Right' } } },
      { workspace = 'a', panes = { { pane = 'p' }, { pane = 'q', split_from = 'p', direction = 'Up' } } },
    } do
      local ok, err = layout.apply(wezterm, bad, function()
        return nil
      end)
      assert.is_nil(ok)
      assert.is_string(err)
    end
    assert.are.equal(0, #double.calls_of('mux.spawn_window'))
  end)
end)
