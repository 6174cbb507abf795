-- qtforge.core: a plugin's life: start, stop, unload, reload, shutdown; the
-- events each step emits; and a manager that stays consistent when hooks fail.
local fs = require("support.fs")
local plugins = require("support.plugins")
local qtforge = require("qtforge")

-- An inline plugin whose hooks append "<id>.<hook>" to `calls`; `hooks` overrides some.
local function tracked(id, calls, hooks)
  local plugin = { manifest = { name = id, version = "1.0.0" }, exports = {} }
  for _, hook in ipairs({ "on_load", "on_start", "on_stop", "on_unload" }) do
    plugin[hook] = function()
      calls[#calls + 1] = id .. "." .. hook
    end
  end
  for k, v in pairs(hooks or {}) do
    plugin[k] = v
  end
  return plugin
end

describe("start_plugin and stop_plugin", function()
  local manager, calls

  before_each(function()
    manager = plugins.manager({ autostart = false })
    calls = {}
    assert.is_true(manager:register_plugin(tracked("p", calls)).success)
  end)

  after_each(function()
    manager:shutdown()
  end)

  it("run on_start and on_stop and move the plugin between running and stopped", function()
    assert.are.equal("loaded", manager:get_plugin("p"):state())
    local started = manager:start_plugin("p")
    assert.are.same({ success = true, plugin_id = "p" }, started)
    assert.are.equal("running", manager:get_plugin("p"):state())
    assert.are.same({ success = true, plugin_id = "p" }, manager:stop_plugin("p"))
    assert.are.equal("stopped", manager:get_plugin("p"):state())
    assert.is_true(manager:start_plugin("p").success)
    assert.are.same({ "p.on_load", "p.on_start", "p.on_stop", "p.on_start" }, calls)
  end)

  it("refuse to stop a plugin that is not running, with invalid_state, running no hook", function()
    local err = plugins.failed(manager:stop_plugin("p"), "invalid_state")
    assert.are.equal('cannot stop plugin "p" while it is loaded', err.message)
    assert.are.same({ "p.on_load" }, calls)
    assert.are.equal("loaded", manager:get_plugin("p"):state())
  end)

  it("refuse to start a plugin that is running", function()
    manager:start_plugin("p")
    local err = plugins.failed(manager:start_plugin("p"), "invalid_state")
    assert.are.equal('cannot start plugin "p" while it is running', err.message)
  end)

  it("answer not_found for a plugin that is not loaded", function()
    local err = plugins.failed(manager:start_plugin("ghost"), "not_found")
    assert.are.equal('no plugin "ghost" is loaded', err.message)
    plugins.failed(manager:stop_plugin("ghost"), "not_found")
  end)

  it("mark a plugin failed when on_start raises, and allow starting it again", function()
    local attempts = 0
    manager:register_plugin(tracked("flaky", calls, {
      on_start = function()
        attempts = attempts + 1
        if attempts == 1 then
          error("not yet")
        end
      end,
    }))
    local err = plugins.failed(manager:start_plugin("flaky"), "load_error")
    assert.are.equal('plugin "flaky" failed in on_start: not yet', err.message)
    local handle = manager:get_plugin("flaky")
    assert.are.equal("failed", handle:state())
    assert.are.equal(err.message, handle:last_error().message)
    assert.is_true(manager:start_plugin("flaky").success)
    assert.are.equal("running", handle:state())
    assert.is_nil(handle:last_error())
  end)
end)

describe("fail_plugin", function()
  local manager, calls, ticks

  before_each(function()
    manager = plugins.manager()
    calls, ticks = {}, 0
    assert.is_true(manager:register_plugin(tracked("p", calls, {
      update = function()
        ticks = ticks + 1
      end,
    })).success)
  end)

  after_each(function()
    manager:shutdown()
  end)

  it("marks a running plugin failed with the host's reason, running no hook", function()
    local seen, events = plugins.record(manager)
    local result = manager:fail_plugin("p", "spec/x.lua:7: bad draw", "draw")
    assert.is_true(result.success)
    assert.are.equal("p", result.plugin_id)
    assert.are.equal("load_error", result.error.code)
    assert.are.equal('plugin "p" failed in draw: bad draw', result.error.message)
    assert.are.equal("spec/x.lua:7", result.error.details)
    local handle = manager:get_plugin("p")
    assert.are.equal("failed", handle:state())
    assert.are.equal(result.error.message, handle:last_error().message)
    assert.are.same({ "p.on_load", "p.on_start" }, calls)
    assert.are.same({ "failed:p" }, seen)
    assert.are.equal(result.error.message, events[1].error.message)
  end)

  it("stops the plugin's updates until it is started again", function()
    manager:update_all_plugins(0.1)
    assert.are.equal(1, ticks)
    manager:fail_plugin("p", "broken")
    assert.are.equal(0, manager:update_all_plugins(0.1))
    assert.are.equal(1, ticks)
    assert.is_true(manager:start_plugin("p").success)
    assert.is_nil(manager:get_plugin("p"):last_error())
    manager:update_all_plugins(0.1)
    assert.are.equal(2, ticks)
  end)

  it("uses an Error's message and details, and stage host by default", function()
    local reason = qtforge.Error("call_error", "the draw export raised", "game.lua:3")
    local err = manager:fail_plugin("p", reason).error
    assert.are.equal('plugin "p" failed in host: the draw export raised', err.message)
    assert.are.equal("game.lua:3", err.details)
  end)

  it("fails loaded and stopped plugins too", function()
    manager:stop_plugin("p")
    assert.is_true(manager:fail_plugin("p", "x").success)
    local quiet = plugins.manager({ autostart = false })
    quiet:register_plugin(tracked("q", calls))
    assert.is_true(quiet:fail_plugin("q", "x").success)
    assert.are.equal("failed", quiet:get_plugin("q"):state())
    quiet:shutdown()
  end)

  it("refuses a plugin already failed or not loaded, changing nothing", function()
    local first = manager:fail_plugin("p", "first").error
    local err = plugins.failed(manager:fail_plugin("p", "second"), "invalid_state")
    assert.are.equal('cannot fail plugin "p" while it is failed', err.message)
    assert.are.equal(first.message, manager:get_plugin("p"):last_error().message)
    plugins.failed(manager:fail_plugin("ghost", "x"), "not_found")
  end)

  it("is brought back running by a reload", function()
    local root = fs.temp_dir()
    local path = plugins.folder(root, "disk", { source = "return { exports = { v = function() return 1 end } }" })
    assert.is_true(manager:load_plugin(path).success)
    manager:fail_plugin("disk", "broken")
    assert.is_true(manager:reload_plugin("disk").success)
    assert.are.equal("running", manager:get_plugin("disk"):state())
    assert.are.equal(1, manager:call("disk", "v"))
    fs.remove(root)
  end)
end)

describe("unload_plugin", function()
  local manager, calls

  before_each(function()
    manager = plugins.manager()
    calls = {}
  end)

  after_each(function()
    manager:shutdown()
  end)

  it("runs on_stop then on_unload and forgets the plugin", function()
    manager:register_plugin(tracked("p", calls))
    local handle = manager:get_plugin("p")
    local result = manager:unload_plugin("p")
    assert.is_true(result.success)
    assert.are.equal("p", result.plugin_id)
    assert.are.same({ "p" }, result.unloaded)
    assert.are.same({ "p.on_load", "p.on_start", "p.on_stop", "p.on_unload" }, calls)
    assert.is_nil(manager:get_plugin("p"))
    assert.are.equal("unloaded", handle:state())
    assert.are.same({}, manager:load_order())
    assert.are.equal(0, manager:stats().plugins)
  end)

  it("skips on_stop for a plugin that is not running", function()
    manager:register_plugin(tracked("p", calls), { start = false })
    manager:unload_plugin("p")
    assert.are.same({ "p.on_load", "p.on_unload" }, calls)
  end)

  it("answers not_found for a plugin that is not loaded", function()
    plugins.failed(manager:unload_plugin("ghost"), "not_found")
  end)

  it("lets the same id load again afterwards", function()
    manager:register_plugin(tracked("p", calls))
    manager:unload_plugin("p")
    assert.is_true(manager:register_plugin(tracked("p", calls)).success)
    assert.are.equal("running", manager:get_plugin("p"):state())
  end)
end)

describe("reload_plugin", function()
  local root, manager, path

  local function entry(version_text)
    return string.format([[
      local plugin = { exports = {} }
      function plugin.exports.version() return %q end
      function plugin.on_unload() return { from = %q } end
      function plugin.on_reload(old) plugin.handed = old and old.from end
      function plugin.exports.handed() return plugin.handed end
      return plugin
    ]], version_text, version_text)
  end

  before_each(function()
    root = fs.temp_dir()
    manager = plugins.manager()
    path = plugins.folder(root, "live", { source = entry("v1") })
    assert.is_true(manager:load_plugin(path).success)
  end)

  after_each(function()
    manager:shutdown()
    fs.remove(root)
  end)

  it("picks up the edited entry: the new code answers, and the plugin keeps running", function()
    local handle = manager:get_plugin("live")
    fs.write(path .. "/init.lua", entry("v2"))
    local result = manager:reload_plugin("live")
    assert.are.same({ success = true, plugin_id = "live" }, result)
    assert.are.equal("v2", manager:call("live", "version"))
    assert.are.equal("v2", handle:call("version"))
    assert.are.equal("running", handle:state())
    assert.are.equal(handle, manager:get_plugin("live"))
    assert.are.same({ "live" }, manager:load_order())
    assert.are.equal(1, manager:stats().reloads)
    assert.are.equal(1, handle:metadata().reloads)
  end)

  it("hands what the old on_unload returned to the new on_reload", function()
    fs.write(path .. "/init.lua", entry("v2"))
    manager:reload_plugin("live")
    assert.are.equal("v1", manager:call("live", "handed"))
  end)

  it("reads an edited manifest too", function()
    plugins.folder(root, "live", { version = "1.1.0", source = entry("v2") })
    assert.is_true(manager:reload_plugin("live").success)
    assert.are.equal("1.1.0", manager:get_plugin("live"):version():to_string())
  end)

  local BROKEN = {
    { "a syntax error", "return {", "entry" },
    { "an error in the new entry", "error('nope')", "entry" },
    { "an error in the new on_load", "return { on_load = function() error('nope') end }", "on_load" },
    { "an error in the new on_reload", "return { on_reload = function() error('nope') end }", "on_reload" },
    { "an error in the new on_start", "return { on_start = function() error('nope') end }", "on_start" },
  }

  for _, case in ipairs(BROKEN) do
    local what, source, stage = case[1], case[2], case[3]
    it("keeps the old version running when the new one has " .. what, function()
      local handle = manager:get_plugin("live")
      local old_version = handle.exports.version
      local seen = plugins.record(manager)
      fs.write(path .. "/init.lua", source)
      local result = manager:reload_plugin("live")
      local err = plugins.failed(result, "load_error")
      assert.are.equal("live", result.plugin_id)
      plugins.contains(err.message, 'plugin "live" failed in ' .. stage .. ": ")
      plugins.contains(err.details, path .. "/init.lua")
      assert.are.equal("running", handle:state())
      assert.are.equal(old_version, handle.exports.version)
      assert.are.equal("v1", manager:call("live", "version"))
      assert.are.equal("v1", handle:call("version"))
      assert.are.same({ "live" }, manager:load_order())
      assert.are.equal(1, manager:stats().reload_failures)
      assert.are.equal(0, manager:stats().reloads)
      -- not "failed": the plugin is still running, in its old version
      assert.are.same({ "reload_failed:live" }, seen)
      -- a fixed version reloads after all
      fs.write(path .. "/init.lua", entry("v3"))
      assert.is_true(manager:reload_plugin("live").success)
      assert.are.equal("v3", manager:call("live", "version"))
    end)
  end

  it("reports reload_failed, and changes nothing, when the new manifest is refused", function()
    local seen = plugins.record(manager)
    fs.write(path .. "/plugin.toml", 'name = "live"\nversion = "1.0.0"\ncolour = "red"\n')
    local err = plugins.failed(manager:reload_plugin("live"), "invalid_manifest")
    plugins.contains(err.details, "unknown field `colour`")
    assert.are.equal("running", manager:get_plugin("live"):state())
    assert.are.equal("v1", manager:call("live", "version"))
    assert.are.same({ "reload_failed:live" }, seen)
  end)

  it("keeps a stopped plugin stopped, without starting the new version", function()
    manager:stop_plugin("live")
    fs.write(path .. "/init.lua", "return { on_start = function() error('must not start') end }")
    assert.is_true(manager:reload_plugin("live").success)
    assert.are.equal("stopped", manager:get_plugin("live"):state())
  end)

  it("brings a failed plugin back to running", function()
    fs.write(path .. "/init.lua", "return { on_stop = function() error('stuck') end }")
    assert.is_true(manager:reload_plugin("live").success)
    plugins.failed(manager:stop_plugin("live"), "load_error")
    assert.are.equal("failed", manager:get_plugin("live"):state())
    fs.write(path .. "/init.lua", entry("v4"))
    assert.is_true(manager:reload_plugin("live").success)
    assert.are.equal("running", manager:get_plugin("live"):state())
    assert.are.equal("v4", manager:call("live", "version"))
  end)

  it("reloads a single-file plugin and a plugin loaded through its manifest path", function()
    local single = fs.write(root .. "/single.lua",
      "return { manifest = { name = 'single', version = '1.0.0' }, exports = { v = function() return 1 end } }")
    assert.is_true(manager:load_plugin(single).success)
    fs.write(single,
      "return { manifest = { name = 'single', version = '1.0.1' }, exports = { v = function() return 2 end } }")
    assert.is_true(manager:reload_plugin("single").success)
    assert.are.equal(2, manager:call("single", "v"))

    local other = plugins.folder(root, "bytoml", { source = "return { exports = { v = function() return 1 end } }" })
    assert.is_true(manager:load_plugin(other .. "/plugin.toml").success)
    fs.write(other .. "/init.lua", "return { exports = { v = function() return 2 end } }")
    assert.is_true(manager:reload_plugin("bytoml").success)
    assert.are.equal(2, manager:call("bytoml", "v"))
  end)

  it("refuses a new version that changes the plugin id", function()
    fs.write(path .. "/plugin.toml", fs.manifest("renamed", "1.0.0"))
    local err = plugins.failed(manager:reload_plugin("live"), "invalid_manifest")
    plugins.contains(err.details, 'a reload cannot change the plugin id ("live" became "renamed")')
    assert.are.equal("v1", manager:call("live", "version"))
  end)

  it("refuses a new version outside a dependent's range", function()
    assert.is_true(manager:load_plugin(plugins.folder(root, "user", { deps = { { "live", "^1" } } })).success)
    plugins.folder(root, "live", { version = "2.0.0", source = entry("v2") })
    local err = plugins.failed(manager:reload_plugin("live"), "dependency_version")
    assert.are.equal('plugin "user" needs "live" ^1, but 2.0.0 is loaded', err.message)
    assert.are.equal("1.0.0", manager:get_plugin("live"):version():to_string())
  end)

  it("refuses an inline plugin, which has no files to read again", function()
    manager:register_plugin({ manifest = { name = "inline", version = "1.0.0" } })
    local err = plugins.failed(manager:reload_plugin("inline"), "invalid_state")
    plugins.contains(err.message, "reload (inline plugins have no files to read again)")
  end)

  it("answers not_found for a plugin that is not loaded", function()
    plugins.failed(manager:reload_plugin("ghost"), "not_found")
  end)
end)

describe("shutdown", function()
  it("stops and unloads every plugin, latest loaded first, and the manager stays usable", function()
    local manager = plugins.manager()
    local calls = {}
    for _, id in ipairs({ "a", "b", "c" }) do
      manager:register_plugin(tracked(id, calls))
    end
    manager:stop_plugin("b")
    local seen = plugins.record(manager)
    assert.is_true(manager:shutdown())
    assert.are.same({ "unloaded:c", "unloaded:b", "unloaded:a" }, seen)
    assert.are.same({}, manager:load_order())
    assert.are.equal(0, manager:stats().plugins)
    assert.is_true(manager:register_plugin(tracked("d", calls)).success)
    manager:shutdown()
  end)

  it("runs on_stop for running plugins only and on_unload for all, in reverse load order", function()
    local manager = plugins.manager()
    local calls = {}
    for _, id in ipairs({ "a", "b", "c" }) do
      manager:register_plugin(tracked(id, calls))
    end
    manager:stop_plugin("b")
    for i = #calls, 1, -1 do
      calls[i] = nil
    end
    manager:shutdown()
    assert.are.same({ "c.on_stop", "c.on_unload", "b.on_unload", "a.on_stop", "a.on_unload" }, calls)
  end)

  it("keeps going when a hook fails", function()
    local manager = plugins.manager()
    local calls = {}
    manager:register_plugin(tracked("a", calls))
    manager:register_plugin(tracked("b", calls, { on_unload = function() error("b will not go") end }))
    for i = #calls, 1, -1 do
      calls[i] = nil
    end
    assert.is_true(manager:shutdown())
    assert.are.same({ "b.on_stop", "a.on_stop", "a.on_unload" }, calls)
    assert.are.same({}, manager:load_order())
  end)

  it("happens when the manager is collected", function()
    local calls = {}
    local function forget()
      local manager = plugins.manager()
      manager:register_plugin(tracked("a", calls))
    end
    forget()
    collectgarbage()
    collectgarbage()
    assert.are.same({ "a.on_load", "a.on_start", "a.on_stop", "a.on_unload" }, calls)
  end)
end)

describe("on_event", function()
  local root, manager

  before_each(function()
    root = fs.temp_dir()
    manager = plugins.manager()
  end)

  after_each(function()
    manager:shutdown()
    fs.remove(root)
  end)

  it("reports each step of a plugin's life, in order", function()
    local seen, events = plugins.record(manager)
    local path = plugins.folder(root, "p", { config = "level = 1\n" })
    manager:load_plugin(path)
    manager:stop_plugin("p")
    manager:start_plugin("p")
    manager:configure_plugin("p", { level = 2 })
    manager:reload_plugin("p")
    manager:unload_plugin("p")
    assert.are.same({
      "loaded:p", "started:p", "stopped:p", "started:p", "configured:p", "reloaded:p", "unloaded:p",
    }, seen)
    for _, event in ipairs(events) do
      assert.are.equal("p", event.plugin_id)
      assert.is_nil(event.error)
    end
  end)

  it("reports a failure with its error", function()
    local seen, events = plugins.record(manager)
    manager:load_plugin(plugins.folder(root, "bad", { source = "error('broken')" }))
    manager:register_plugin({ manifest = { name = "ticker", version = "1.0.0" }, update = function()
      error("tick")
    end })
    manager:update_all_plugins(0.1)
    assert.are.same({ "failed:bad", "loaded:ticker", "started:ticker", "failed:ticker" }, seen)
    assert.are.equal("load_error", events[1].error.code)
    assert.are.equal('plugin "bad" failed in entry: broken', events[1].error.message)
    assert.are.equal('plugin "ticker" failed in update: tick', events[4].error.message)
  end)

  it("reports a failure to read a plugin, with no plugin id", function()
    local seen, events = plugins.record(manager)
    manager:load_plugin(root .. "/missing")
    assert.are.same({ "failed:nil" }, seen)
    assert.are.equal("not_found", events[1].error.code)
  end)

  it("reports nothing for a refused operation that changed nothing", function()
    manager:register_plugin({ manifest = { name = "p", version = "1.0.0" } }, { start = false })
    local seen = plugins.record(manager)
    manager:stop_plugin("p")
    manager:configure_plugin("p", { unknown = 1 })
    manager:unload_plugin("ghost")
    assert.are.same({}, seen)
  end)

  it("returns a function that removes the listener", function()
    local seen, _, remove = plugins.record(manager)
    local other = plugins.record(manager)
    manager:register_plugin({ manifest = { name = "a", version = "1.0.0" } })
    remove()
    manager:unload_plugin("a")
    assert.are.same({ "loaded:a", "started:a" }, seen)
    assert.are.same({ "loaded:a", "started:a", "unloaded:a" }, other)
    remove()
  end)

  it("survives a listener that raises: the others still hear, the error is logged", function()
    local logs
    manager, logs = plugins.manager()
    manager:on_event(function()
      error("listener is broken")
    end)
    local seen = plugins.record(manager)
    local result = manager:register_plugin({ manifest = { name = "a", version = "1.0.0" } })
    assert.is_true(result.success)
    assert.are.equal("running", manager:get_plugin("a"):state())
    assert.are.same({ "loaded:a", "started:a" }, seen)
    assert.are.equal(2, #logs)
    assert.are.equal("error", logs[1].level)
    plugins.contains(logs[1].message, "event listener failed:", "listener is broken")
  end)

  it("lets a listener add or remove listeners while an event is delivered", function()
    local late = {}
    local remove_self
    remove_self = manager:on_event(function(event)
      remove_self()
      manager:on_event(function(e)
        late[#late + 1] = e.type
      end)
      late[#late + 1] = "first:" .. event.type
    end)
    manager:register_plugin({ manifest = { name = "a", version = "1.0.0" } })
    assert.are.same({ "first:loaded", "started" }, late)
  end)
end)

describe("hooks that raise", function()
  local root, manager, seen

  -- "victim" raises in `hook`; "bystander" is a healthy plugin loaded first
  local function setup(hook)
    local source = string.format([[
      local plugin = { exports = { ping = function() return "victim" end } }
      plugin[%q] = function() error(%q) end
      return plugin
    ]], hook, hook .. " failed")
    local path = plugins.folder(root, "victim", { source = source, config = "level = 1\n" })
    return path
  end

  local function assert_consistent(expected_victim_state)
    local ids = manager:load_order()
    local stats = manager:stats()
    assert.are.equal(#ids, stats.plugins)
    assert.are.equal(#ids, #manager:plugins())
    local total = 0
    for _, n in pairs(stats.by_state) do
      total = total + n
    end
    assert.are.equal(#ids, total)
    for _, id in ipairs(ids) do
      assert.are.equal(manager:get_plugin(id):state(), manager:get_plugin(id):metadata().state)
    end
    local bystander = manager:get_plugin("bystander")
    assert.are.equal("running", bystander:state())
    assert.are.equal("fine", bystander:ping())
    if expected_victim_state == nil then
      assert.is_nil(manager:get_plugin("victim"))
      assert.are.same({ "bystander" }, ids)
    else
      assert.are.equal(expected_victim_state, manager:get_plugin("victim"):state())
      assert.are.same({ "bystander", "victim" }, ids)
      assert.are.equal(expected_victim_state == "failed" and 1 or 0, stats.by_state.failed)
    end
  end

  before_each(function()
    root = fs.temp_dir()
    manager = plugins.manager()
    manager:register_plugin({
      manifest = { name = "bystander", version = "1.0.0" },
      exports = { ping = function() return "fine" end },
      update = function() end,
    })
  end)

  after_each(function()
    manager:shutdown()
    fs.remove(root)
  end)

  it("in the entry: the load fails and nothing stays", function()
    seen = plugins.record(manager)
    local path = plugins.folder(root, "victim", { source = "error('entry failed')" })
    plugins.failed(manager:load_plugin(path), "load_error")
    assert_consistent(nil)
    assert.are.same({ "failed:victim" }, seen)
  end)

  for _, hook in ipairs({ "on_load", "on_start" }) do
    it("in " .. hook .. ": the load fails and nothing stays", function()
      seen = plugins.record(manager)
      local err = plugins.failed(manager:load_plugin(setup(hook)), "load_error")
      assert.are.equal('plugin "victim" failed in ' .. hook .. ": " .. hook .. " failed", err.message)
      assert_consistent(nil)
      assert.are.same({ "failed:victim" }, seen)
    end)
  end

  it("in on_stop: stop fails and the plugin is failed", function()
    manager:load_plugin(setup("on_stop"))
    seen = plugins.record(manager)
    local err = plugins.failed(manager:stop_plugin("victim"), "load_error")
    assert.are.equal('plugin "victim" failed in on_stop: on_stop failed', err.message)
    assert_consistent("failed")
    assert.are.same(err.message, manager:get_plugin("victim"):last_error().message)
    assert.are.same({ "failed:victim" }, seen)
  end)

  it("in on_unload: the plugin is unloaded all the same, and the error is reported", function()
    manager:load_plugin(setup("on_unload"))
    seen = plugins.record(manager)
    local result = manager:unload_plugin("victim")
    assert.is_true(result.success)
    assert.are.equal(1, #result.errors)
    assert.are.equal('plugin "victim" failed in on_unload: on_unload failed', result.errors[1].message)
    assert_consistent(nil)
    assert.are.same({ "failed:victim", "unloaded:victim" }, seen)
  end)

  it("in update: the plugin is failed and stops ticking", function()
    manager:load_plugin(setup("update"))
    seen = plugins.record(manager)
    manager:update_all_plugins(0.1)
    assert_consistent("failed")
    assert.are.equal(1, manager:update_all_plugins(0.1))
    assert.are.same({ "failed:victim" }, seen)
    assert.are.equal(1, manager:stats().update_errors)
  end)

  it("in on_configure: the configuration is refused and the plugin keeps running", function()
    manager:load_plugin(setup("on_configure"))
    seen = plugins.record(manager)
    local err = plugins.failed(manager:configure_plugin("victim", { level = 2 }), "invalid_config")
    assert.are.equal('plugin "victim" refused the configuration: on_configure failed', err.message)
    assert_consistent("running")
    assert.are.same({ level = 1 }, manager:get_plugin("victim"):config())
    assert.are.same({}, seen)
  end)

  it("in on_reload: the old version keeps running", function()
    local path = plugins.folder(root, "victim", {
      source = "return { exports = { ping = function() return 'old' end } }",
    })
    manager:load_plugin(path)
    fs.write(path .. "/init.lua", "return { on_reload = function() error('on_reload failed') end }")
    seen = plugins.record(manager)
    local err = plugins.failed(manager:reload_plugin("victim"), "load_error")
    assert.are.equal('plugin "victim" failed in on_reload: on_reload failed', err.message)
    assert_consistent("running")
    assert.are.equal("old", manager:call("victim", "ping"))
    assert.are.same({ "reload_failed:victim" }, seen)
  end)
end)
