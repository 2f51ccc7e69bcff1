-- Status bar: status.json -> text, caching, staleness, bad files, toasts.

local H = require 'helpers'
local double = H.double

describe('status bar', function()
  local wezterm, plugin, dir, path, clock, window

  local function setup_plugin(opts)
    opts = opts or {}
    opts.status_file = opts.status_file or path
    opts.clock = clock.now
    opts.read_config = false
    opts.keys = false
    plugin.setup(wezterm.config_builder(), opts)
  end

  local function text()
    double.tick(window)
    return double.strip(window.right_status)
  end

  local function put(doc)
    H.write(path, type(doc) == 'string' and doc or H.encode(doc))
  end

  before_each(function()
    wezterm, plugin = H.fresh()
    dir = H.tmpdir()
    path = dir .. '/status.json'
    clock = H.clock(1000)
    window = H.window('default')
  end)

  after_each(function()
    H.rmtree(dir)
  end)

  it('shows "wzp off" when there is no status.json', function()
    setup_plugin()
    assert.are.equal('wzp off', text())
  end)

  it('ignores a status.json without the daemon\'s token once a token file exists', function()
    local token_file = dir .. '/plugin.token'
    local doc = H.status_doc({ 'waiting_input' }, { ts = 1000 })
    doc.token = 'feedfacefeedfacefeedfacefeedface'
    put(doc)
    setup_plugin { token_file = token_file }
    local shown = text() -- no token file yet: no daemon ever ran, nothing to check against
    assert.are.equal('⚡1 waiting ●0 busy ○0 idle ✖0 | cpu 0% mem 0B', shown)
    H.write(token_file, '0123456789abcdef0123456789abcdef\n')
    clock.t = clock.t + 2
    assert.are.equal('wzp ⚠ status file not ours', text())
    doc.token = '0123456789abcdef0123456789abcdef'
    put(doc)
    clock.t = clock.t + 2
    assert.are.equal(shown, text())
  end)

  it('shows zero counts for a daemon with no agents', function()
    put(H.status_doc({}, { ts = 1000 }))
    setup_plugin()
    assert.are.equal('⚡0 waiting ●0 busy ○0 idle ✖0 | cpu 0% mem 0B', text())
  end)

  it('shows counts, cpu and memory for a healthy pool', function()
    put(H.status_doc({ 'busy', 'busy', 'starting', 'idle', 'running' },
      { ts = 999.5, cpu = 34.2, rss = 2.1 * 1024 ^ 3 }))
    setup_plugin()
    -- `running` (a supervised program without agent states) is in the working group
    assert.are.equal('⚡0 waiting ●4 busy ○1 idle ✖0 | cpu 34% mem 2.1G', text())
  end)

  it('counts the state groups of wezterm_parallel.states: down is fatal, backoff, exited, stopped', function()
    put(H.status_doc({ 'exited', 'stopped', 'fatal', 'backoff', 'running', 'waiting_input' }, { ts = 1000 }))
    setup_plugin()
    assert.are.equal('⚡1 waiting ●1 busy ○0 idle ✖4 | cpu 0% mem 0B', text())
  end)

  it('counts waiting agents and errors (fatal + backoff) and colours them', function()
    put(H.status_doc({ 'waiting_input', 'waiting_input', 'busy', 'fatal', 'backoff', 'idle' },
      { ts = 1000, cpu = 5, rss = 300 * 1024 ^ 2 }))
    setup_plugin { theme = { waiting = '#010203', error_color = '#0a0b0c' } }
    assert.are.equal('⚡2 waiting ●1 busy ○1 idle ✖2 | cpu 5% mem 300M', text())
    assert.truthy(window.right_status:find('\27[38:2::1:2:3m⚡2 waiting', 1, true))
    assert.truthy(window.right_status:find('\27[38:2::10:11:12m✖2', 1, true))
  end)

  describe('pools', function()
    local function pool(busy, max, queued, until_ts)
      return { queued = queued, running = busy, workers = busy + 1, idle = 1, busy = busy,
               min = 0, max = max, rate_limited_until = until_ts }
    end

    it('shows each pool by name: busy workers of max and queued tasks', function()
      local doc = H.status_doc({ 'busy' }, { ts = 1000 })
      doc.pools = { review = pool(1, 4, 3), batch = pool(0, 2, 0) }
      put(doc)
      setup_plugin()
      assert.are.equal('⚡0 waiting ●1 busy ○0 idle ✖0 | cpu 0% mem 0B'
        .. ' | pool batch 0/2 q0 | pool review 1/4 q3', text())
    end)

    it('shows a pool paused by a rate limit with the local time it resumes', function()
      local doc = H.status_doc({}, { ts = 1000 })
      doc.pools = { review = pool(1, 4, 3, 1000 + 3600) }
      put(doc)
      setup_plugin { show_resources = false, theme = { waiting = '#010203' } }
      local resumes = os.date('%H:%M', 4600)
      assert.are.equal('⚡0 waiting ●0 busy ○0 idle ✖0 | pool review 1/4 q3 rate-limited until '
        .. resumes, text())
      assert.truthy(window.right_status:find('\27[38:2::1:2:3m rate-limited until', 1, true))
    end)

    it('leaves out a pause that is over at the time the file was written', function()
      local doc = H.status_doc({}, { ts = 1000 })
      doc.pools = { review = pool(0, 1, 1, 999.5) }
      put(doc)
      setup_plugin { show_resources = false }
      assert.are.equal('⚡0 waiting ●0 busy ○0 idle ✖0 | pool review 0/1 q1', text())
    end)

    it('shows control characters of a pool name as ?, and ignores pools of the wrong shape', function()
      local doc = H.status_doc({}, { ts = 1000 })
      doc.pools = { ['ev\27]0;x\7il'] = pool(0, 1, 0), other = 'not a pool' }
      put(doc)
      setup_plugin { show_resources = false }
      assert.are.equal('⚡0 waiting ●0 busy ○0 idle ✖0 | pool ev?]0;x?il 0/1 q0', text())
      assert.falsy(window.right_status:find('\27]', 1, true))
      doc.pools = 'garbage'
      put(doc)
      clock.t = 1001
      assert.are.equal('⚡0 waiting ●0 busy ○0 idle ✖0', text())
    end)
  end)

  it('marks a status.json whose ts is older than 5 s as stale', function()
    put(H.status_doc({ 'busy' }, { ts = 1000 }))
    clock.t = 1005
    setup_plugin()
    assert.are.equal('⚡0 waiting ●1 busy ○0 idle ✖0 | cpu 0% mem 0B', text())
    clock.t = 1012
    assert.are.equal('⚠ stale 12s ⚡0 waiting ●1 busy ○0 idle ✖0 | cpu 0% mem 0B', text())
    clock.t = 1000 + 600
    assert.matches('^⚠ stale 10m ', text())
  end)

  it('never errors on a half-written file and keeps the last good snapshot', function()
    local good = H.encode(H.status_doc({ 'idle' }, { ts = 1000 }))
    put(good:sub(1, math.floor(#good / 2)))
    setup_plugin()
    assert.are.equal('wzp ?', text())
    put(good)
    clock.t = 1001
    assert.are.equal('⚡0 waiting ●0 busy ○1 idle ✖0 | cpu 0% mem 0B', text())
    put(good:sub(1, 17))
    clock.t = 1002
    assert.are.equal('⚡0 waiting ●0 busy ○1 idle ✖0 | cpu 0% mem 0B', text())
    assert.are.equal(0, #double.logs)
  end)

  it('shrugs off garbage, empty files, wrong JSON shapes and a directory', function()
    setup_plugin()
    for i, bad in ipairs { '', '\0\1\2garbage', '[1,2,3]', '"text"', 'null', '{"totals": 5}', '{"ts": 1}}' } do
      put(bad)
      clock.t = 1000 + i
      assert.are.equal('wzp ?', text())
    end
    os.remove(path)
    os.execute('mkdir ' .. path)
    clock.t = 1100
    assert.has_no.errors(function()
      text()
    end)
    assert.are.equal(0, #double.logs)
  end)

  it('re-reads status.json at most once a second and caches in between', function()
    put(H.status_doc({ 'busy' }, { ts = 1000 }))
    setup_plugin()
    text()
    for _ = 1, 20 do
      text()
    end
    put(H.status_doc({ 'idle', 'idle' }, { ts = 1000 }))
    assert.are.equal('⚡0 waiting ●1 busy ○0 idle ✖0 | cpu 0% mem 0B', text())
    clock.t = 1001
    assert.are.equal('⚡0 waiting ●0 busy ○2 idle ✖0 | cpu 0% mem 0B', text())
  end)

  it('never starts a process or touches anything but status.json on a tick', function()
    put(H.status_doc({ 'waiting_input' }, { ts = 1000 }))
    setup_plugin()
    local before = #double.calls
    for i = 1, 50 do
      clock.t = 1000 + i
      double.tick(window)
    end
    assert.are.equal(before, #double.calls)
    assert.are.equal(0, #double.calls_of('run_child_process'))
    assert.are.equal(0, #double.calls_of('background_child_process'))
  end)

  it('registers exactly one update-status handler even when setup runs twice', function()
    setup_plugin()
    setup_plugin()
    assert.are.equal(1, #double.handlers('update-status'))
    assert.are.equal(0, #double.handlers('update-right-status'))
  end)

  it('computes the default status.json path like wzp_supervisor/paths.py', function()
    double.setenv('XDG_RUNTIME_DIR', '/run/user/4242')
    assert.are.equal('/run/user/4242/wezterm-parallel/status.json', plugin.status_file())
    wezterm, plugin = H.fresh()
    double.setenv('XDG_RUNTIME_DIR', false)
    double.setenv('TMPDIR', '/var/tmp/')
    local p = io.popen('id -u')
    local uid = p:read('l')
    p:close()
    assert.are.equal('/var/tmp/wezterm-parallel-' .. uid .. '/status.json', plugin.status_file())
    assert.are.equal('/var/tmp/wezterm-parallel-' .. uid .. '/ui.json', plugin.ui_file())
    -- found without a child process (/proc/self/status): config evaluation starts none
    assert.are.equal(0, #double.calls_of('run_child_process'))
  end)

  it('without $UID or /proc, asks `id -u` once the GUI is up, not during config evaluation', function()
    local real_open = io.open
    io.open = function(path, ...) -- luacheck: ignore (a system without /proc)
      if path == '/proc/self/status' then
        return nil
      end
      return real_open(path, ...)
    end
    local ok, err = pcall(function()
      wezterm, plugin = H.fresh()
      double.setenv('XDG_RUNTIME_DIR', false)
      double.setenv('UID', false)
      double.setenv('TMPDIR', '/var/tmp')
      plugin.setup(wezterm.config_builder(), { read_config = false, keys = false })
      assert.are.equal(0, #double.calls_of('run_child_process'))
      assert.are.equal('/var/tmp/wezterm-parallel-unknown/status.json', plugin.status_file())
      wezterm.emit('gui-startup', {})
      assert.are.equal(1, #double.calls_of('run_child_process'))
      local p = io.popen('id -u')
      local uid = p:read('l')
      p:close()
      assert.are.equal('/var/tmp/wezterm-parallel-' .. uid .. '/status.json', plugin.status_file())
      assert.are.equal(uid, wezterm.GLOBAL.wzp_uid)
      wezterm.emit('gui-attached', {})
      assert.are.equal(1, #double.calls_of('run_child_process'))
    end)
    io.open = real_open
    assert(ok, err)
  end)

  it('finds the uid without a process: $UID, then /proc/self/status', function()
    local paths = require 'wezterm_parallel.paths'
    local env = { UID = '1234' }
    assert.are.equal('1234', paths.uid_without_process(function(k) return env[k] end))
    env = {}
    local function open(path)
      assert.are.equal('/proc/self/status', path)
      return { read = function() return 'Name:\tlua\nUid:\t1001\t1001\t1001\t1001\n' end, close = function() end }
    end
    assert.are.equal('1001', paths.uid_without_process(function(k) return env[k] end, open))
    assert.is_nil(paths.uid_without_process(function(k) return env[k] end, function() return nil end))
  end)

  describe('toasts', function()
    local function doc(transitions, pid)
      return H.status_doc({ 'waiting_input', 'fatal' }, { ts = clock.t, pid = pid, transitions = transitions })
    end

    it('toasts each transition once, remembering the last seq in wezterm.GLOBAL', function()
      -- old news when WezTerm starts: not replayed
      put(doc({ { seq = 16, target = 'ws1/agent-9', to = 'waiting_input', ts = 900, reason = 'permission' } }))
      setup_plugin()
      text()
      assert.are.equal(0, #window.toasts)
      assert.are.equal(16, wezterm.GLOBAL.wzp_last_seq)

      clock.t = 1001
      put(doc({
        { seq = 16, target = 'ws1/agent-9', to = 'waiting_input', ts = 900, reason = 'permission' },
        { seq = 17, target = 'ws1/agent-1', to = 'waiting_input', ts = 1000.5, reason = 'permission' },
      }))
      text()
      assert.are.equal(1, #window.toasts)
      assert.are.equal('wezterm-parallel', window.toasts[1].title)
      assert.are.equal('ws1/agent-1 is waiting: Claude needs your permission to use Bash', window.toasts[1].message)

      for i = 2, 5 do -- same file read again and again: nothing new
        clock.t = 1000 + i
        text()
      end
      assert.are.equal(1, #window.toasts)

      clock.t = 1010
      put(doc({
        { seq = 17, target = 'ws1/agent-1', to = 'waiting_input', ts = 1000.5 },
        { seq = 18, target = 'ws1/agent-2', to = 'fatal', ts = 1009, reason = 'crash loop' },
        { seq = 19, target = 'ws1/agent-3', to = 'waiting_input', ts = 1009.5, reason = 'idle_prompt' },
      }))
      text()
      assert.are.equal(3, #window.toasts)
      assert.are.equal('ws1/agent-2 failed: crash loop', window.toasts[2].message)
      assert.are.equal('ws1/agent-3 is waiting: idle_prompt', window.toasts[3].message)
      assert.are.equal(19, wezterm.GLOBAL.wzp_last_seq)
    end)

    it('does not toast again from another window or after a config reload', function()
      put(doc({}))
      setup_plugin()
      text()
      clock.t = 1001
      put(doc({ { seq = 1, target = 'ws1/agent-1', to = 'waiting_input', ts = 1000.9 } }))
      text()
      assert.are.equal(1, #window.toasts)
      -- a config reload builds a new Lua state: module state is gone, GLOBAL stays
      local global = wezterm.GLOBAL.wzp_last_seq
      for name in pairs(package.loaded) do
        if name:match('^wezterm_parallel') then
          package.loaded[name] = nil
        end
      end
      plugin = require 'wezterm_parallel'
      setup_plugin()
      local other = H.window('default')
      clock.t = 1002
      double.tick(other)
      assert.are.equal(global, wezterm.GLOBAL.wzp_last_seq)
      assert.are.equal(0, #other.toasts)
    end)

    it('caps a burst at three toasts plus a summary', function()
      put(doc({}))
      setup_plugin()
      text()
      local trs = {}
      for i = 1, 7 do
        trs[i] = { seq = i, target = 'ws1/agent-' .. i, to = 'waiting_input', ts = 1000.5 }
      end
      clock.t = 1001
      put(doc(trs))
      text()
      assert.are.equal(4, #window.toasts)
      assert.are.equal('and 4 more agents need you', window.toasts[4].message)
    end)

    it('starts over when the daemon (pid) changes', function()
      put(doc({ { seq = 40, target = 'ws1/agent-1', to = 'fatal', ts = 500 } }, 111))
      setup_plugin()
      text()
      clock.t = 1001
      put(doc({ { seq = 2, target = 'ws1/agent-2', to = 'waiting_input', ts = 1000.8 } }, 222))
      text()
      assert.are.equal(1, #window.toasts)
      assert.are.equal(2, wezterm.GLOBAL.wzp_last_seq)
    end)

    it('can be turned off', function()
      put(doc({}))
      setup_plugin { notify = false }
      text()
      clock.t = 1001
      put(doc({ { seq = 1, target = 'ws1/agent-1', to = 'waiting_input', ts = 1000.9 } }))
      text()
      assert.are.equal(0, #window.toasts)
    end)
  end)
end)
